//! Parse speed of the benchmark sample messages, for working on the parser
//! (the criterion comparison with other parsers lives in `bench/`).
//!
//! ```sh
//! cargo run --release -p sip-core --example parse_speed            # all, timed
//! cargo run --release -p sip-core --example parse_speed -- invite_carrier typed 100000
//! ```
//!
//! With arguments `<sample> <parse|typed> <iterations>` it runs one loop
//! (for `valgrind --tool=callgrind`, or memcheck's allocation count).
//! Without, it times every sample both ways: the best of several rounds,
//! since the machine is shared.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use sip_core::Message;

const SAMPLES: [(&str, &[u8]); 4] = [
    (
        "invite_carrier",
        include_bytes!("../tests/data/samples/invite_carrier.sip"),
    ),
    (
        "register",
        include_bytes!("../tests/data/samples/register.sip"),
    ),
    ("ok200", include_bytes!("../tests/data/samples/ok200.sip")),
    (
        "notify_reg",
        include_bytes!("../tests/data/samples/notify_reg.sip"),
    ),
];

fn parse_only(data: Bytes) -> usize {
    let m = Message::parse(data).expect("sample parses");
    m.field_count()
}

/// The typed access of `bench/` (`locus_parse_typed`): top Via and branch,
/// From tag, To, Call-ID and CSeq.
fn parse_typed(data: Bytes) -> usize {
    let m = Message::parse(data).expect("sample parses");
    let via = m.top_via().expect("top Via");
    let mut n = via.branch().expect("branch").len();
    n += m.from_tag().expect("From tag").len();
    n += m.to().expect("To").params.len();
    n += m.call_id().expect("Call-ID").len();
    n += m.cseq().expect("CSeq").seq as usize;
    n
}

fn run(f: fn(Bytes) -> usize, data: &Bytes, iters: usize) -> usize {
    let mut acc = 0;
    for _ in 0..iters {
        acc += f(black_box(data.clone()));
    }
    acc
}

/// Best time per call, in ns, over `rounds` rounds of `iters` calls.
fn best_ns(f: fn(Bytes) -> usize, data: &Bytes, rounds: usize, iters: usize) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            black_box(run(f, data, iters));
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [sample, mode, iters] = &args[..] {
        let (_, data) = SAMPLES
            .iter()
            .find(|(n, _)| n == sample)
            .expect("known sample name");
        let f = if mode == "typed" {
            parse_typed
        } else {
            parse_only
        };
        let iters = iters.parse().expect("iteration count");
        black_box(run(f, &Bytes::from_static(data), iters));
        return;
    }
    println!("sample           bytes  parse ns  typed ns");
    for (name, data) in SAMPLES {
        let data = Bytes::from_static(data);
        black_box(run(parse_typed, &data, 20_000));
        let p = best_ns(parse_only, &data, 15, 20_000);
        let t = best_ns(parse_typed, &data, 15, 20_000);
        println!("{name:<16} {:>5}  {p:>8.0}  {t:>8.0}", data.len());
    }
}
