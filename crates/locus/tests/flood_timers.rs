//! Timers keep running while a flood keeps the server busy: a carrier's
//! call to an endpoint that never answers still gets its 100 Trying (a
//! 200 ms timer) and ends at Timer B (RFC 3261 section 17.1.1.2) although
//! another source floods the server with more requests than it takes in.
//! The server's loop takes due timers on every turn, whatever woke it;
//! before, a timer fired only when the biased select found no datagram
//! queued, which under a flood held only thanks to tokio's cooperative
//! budget. Its own test binary: the flood takes the machine's CPU while it
//! lasts.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{byoc_trunk_routed, free_udp_port_on, sip_config_with_carrier, Locus};

const DID: &str = "+15551230000";

/// How long the flood lasts at most; the call must end well before.
const FLOOD_CAP: Duration = Duration::from_secs(60);
/// How long the carrier sends its INVITE until the 100 Trying.
const TRYING_WITHIN: Duration = Duration::from_secs(30);
/// From the 100 Trying: Timer B is 64 x T1 = 3.2 s here, plus slack for a
/// loaded machine.
const ANSWER_WITHIN: Duration = Duration::from_secs(12);

#[test]
fn c13_timer_b_fires_during_a_flood() {
    let silent = UdpSocket::bind(("127.0.0.6", free_udp_port_on("127.0.0.6"))).unwrap();
    let config = sip_config_with_carrier(50, "127.0.0.2")
        + &byoc_trunk_routed("far", "127.0.0.6", &[silent.local_addr().unwrap()], "", DID);
    let locus = Locus::start(&config, 1);
    let server = locus.addr("udp");

    // The flood: OPTIONS from 127.0.0.3 as fast as two threads can send,
    // more than the server takes in.
    let stop = Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = (0..2).map(|_| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind(("127.0.0.3", 0)).unwrap();
            let started = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < FLOOD_CAP {
                let msg = format!(
                    "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:9;branch=z9hG4bKfl{sent}\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:f@127.0.0.3>;tag=f\r\nTo: <sip:{server}>\r\n\
                     Call-ID: flood{sent}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = sock.send_to(msg.as_bytes(), server);
                sent += 1;
            }
            (sent, started.elapsed())
        })
    }).collect();

    std::thread::sleep(Duration::from_millis(300));

    // The carrier's INVITE, sent every 100 ms (the flood crowds most out
    // of the server's queue) until its 100 Trying, which the INVITE server
    // transaction sends from a 200 ms timer: a server whose timers starve
    // under the flood never sends it.
    let carrier = UdpSocket::bind(("127.0.0.2", 0)).unwrap();
    carrier
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let me = carrier.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:{DID}@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKcarrier1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001000@{me}>;tag=c1\r\nTo: <sip:{DID}@{server}>\r\n\
         Call-ID: flood-call\r\nCSeq: 1 INVITE\r\nContact: <sip:+15550001000@{me}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let mut buf = [0u8; 4096];
    let status_of = |b: &[u8]| -> u16 {
        String::from_utf8_lossy(b)
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let mut trying = None;
    let sending = Instant::now();
    while sending.elapsed() < TRYING_WITHIN {
        carrier.send_to(invite.as_bytes(), server).unwrap();
        if let Ok((n, _)) = carrier.recv_from(&mut buf) {
            let status = status_of(&buf[..n]);
            assert!(status < 200, "the INVITE was answered {status} at once");
            if status >= 100 {
                trying = Some(Instant::now());
                break;
            }
        }
    }
    let trying = trying.unwrap_or_else(|| {
        panic!("no 100 Trying to the carrier's INVITE in {TRYING_WITHIN:?} of flood: its timer did not fire")
    });

    // Timer B (3.2 s after the INVITE) ends the attempt; no endpoint is
    // left, so the carrier gets a final answer, during the flood.
    let mut final_status = None;
    while final_status.is_none() && trying.elapsed() < ANSWER_WITHIN {
        if let Ok((n, _)) = carrier.recv_from(&mut buf) {
            let status = status_of(&buf[..n]);
            if status >= 200 {
                final_status = Some(status);
            }
        }
    }
    let waited = trying.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (mut sent, mut flooded) = (0, Duration::ZERO);
    for f in flooders {
        let (n, d) = f.join().unwrap();
        sent += n;
        flooded = flooded.max(d);
    }

    let status = final_status.unwrap_or_else(|| {
        panic!(
            "no final answer to the carrier within {ANSWER_WITHIN:?} of its 100 Trying while \
             flooded ({sent} OPTIONS in {flooded:?}): Timer B did not fire during the flood"
        )
    });
    assert!(
        (400..700).contains(&status),
        "the call to a silent endpoint ended in {status}"
    );
    assert!(
        flooded < FLOOD_CAP,
        "the flood ran out ({flooded:?}) before the answer: the test proved nothing"
    );
    eprintln!("final {status} {waited:?} after the 100 Trying, during a flood of {sent} OPTIONS");
}
