//! One SDP parse loop, for counting instructions with callgrind:
//!
//! ```sh
//! cargo build --release -p sdp --example sdp_loop
//! valgrind --tool=callgrind target/release/examples/sdp_loop 11000
//! valgrind --tool=callgrind target/release/examples/sdp_loop 1000
//! ```
//!
//! The offer is the one `bench/sipp/call_uac.xml` sends in every call of
//! the call benchmarks; the difference of two runs divided by the
//! difference of iterations is the count per parse.

use std::hint::black_box;

use sdp::SessionDescription;

const OFFER: &[u8] = b"v=0\r\no=carrier 53655765 2353687637 IN IP4 127.0.0.2\r\ns=-\r\n\
c=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: sdp_loop <iterations>");
            std::process::exit(2);
        });
    let mut lines = 0;
    for _ in 0..iters {
        let sd = SessionDescription::parse_bytes(black_box(OFFER)).expect("the offer parses");
        lines += sd.media().len();
    }
    println!("{lines}");
}
