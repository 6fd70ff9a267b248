//! The floor under a call server: the least CPU a process can spend per
//! call of `bench/call_load.sh` when it only passes each datagram on. A
//! stateless proxy (RFC 3261 section 16.11) cut to the bone: a request gets
//! a Via (its branch derived from the request's own, so retransmissions
//! keep it, and the request's source in a parameter) and, if it is an
//! INVITE, a Record-Route, and goes to the far end, whatever its
//! Request-URI; a response loses that Via and goes to the source it names. No parsing beyond finding those lines, no
//! state, no 100 Trying (so one datagram per call fewer than Kamailio or
//! Locus send), blocking `recv_from` and `send_to` on one thread.
//!
//! `bench/call_load.sh` runs it as the `floor` series: what a call server
//! spends above it is its own; the rest is the kernel's cost of moving a
//! call's datagrams on loopback, which no server goes below.
//!
//! ```sh
//! cargo build --release -p locus-bench --bin call_floor
//! target/release/call_floor 127.0.0.1:15980 127.0.0.6:15982
//! ```

use std::net::{SocketAddr, UdpSocket};

/// Largest datagram taken whole; the benchmark's messages are under 1 KB.
const BUF: usize = 8192;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(far)) = (
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|a| a.parse::<SocketAddr>().ok()),
    ) else {
        eprintln!("usage: call_floor LISTEN_ADDR FAR_END_ADDR");
        std::process::exit(2);
    };
    let sock = match UdpSocket::bind(listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("call_floor: cannot bind {listen}: {e}");
            std::process::exit(1);
        }
    };
    let via = format!("Via: SIP/2.0/UDP {listen};src=");
    let record_route = format!("Record-Route: <sip:{listen};lr>\r\n");
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF + 256);
    loop {
        let Ok((n, source)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let msg = &buf[..n];
        out.clear();
        let dest = if msg.starts_with(b"SIP/2.0 ") {
            match strip_top_via(msg, &mut out) {
                Some(dest) => dest,
                None => continue,
            }
        } else {
            let Some(line_end) = find(msg, b"\r\n") else {
                continue;
            };
            let line_end = line_end + 2;
            out.extend_from_slice(&msg[..line_end]);
            out.extend_from_slice(via.as_bytes());
            out.extend_from_slice(source.to_string().as_bytes());
            // The request's own branch after ours: deterministic (16.11).
            out.extend_from_slice(b";branch=z9hG4bKfloor");
            out.extend_from_slice(branch_of(msg).unwrap_or(b"0"));
            out.extend_from_slice(b"\r\n");
            if msg.starts_with(b"INVITE ") {
                out.extend_from_slice(record_route.as_bytes());
            }
            out.extend_from_slice(&msg[line_end..]);
            far
        };
        let _ = sock.send_to(&out, dest);
    }
}

/// Copies a response without this proxy's Via (the first value of the
/// first Via header: a line of its own, or joined to the next value by a
/// comma, as SIPp writes them) into `out`; the source it names.
fn strip_top_via(msg: &[u8], out: &mut Vec<u8>) -> Option<SocketAddr> {
    let line = find(msg, b"\r\nVia: ")? + 2;
    let value = line + "Via: ".len();
    let line_end = value + find(&msg[value..], b"\r\n")?;
    let src = value + find(&msg[value..line_end], b";src=")? + ";src=".len();
    let src_end = src + msg[src..line_end].iter().position(|&b| b == b';')?;
    let dest = std::str::from_utf8(&msg[src..src_end]).ok()?.parse().ok()?;
    match find(&msg[value..line_end], b", ") {
        // Ours, then the next values on the same line: keep "Via: " and them.
        Some(comma) => {
            out.extend_from_slice(&msg[..value]);
            out.extend_from_slice(&msg[value + comma + 2..]);
        }
        None => {
            out.extend_from_slice(&msg[..line]);
            out.extend_from_slice(&msg[line_end + 2..]);
        }
    }
    Some(dest)
}

/// The branch parameter's value of the request's first Via.
fn branch_of(msg: &[u8]) -> Option<&[u8]> {
    let at = find(msg, b";branch=")? + ";branch=".len();
    let end = at
        + msg[at..]
            .iter()
            .position(|&b| b == b';' || b == b'\r' || b == b',')?;
    Some(&msg[at..end])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
