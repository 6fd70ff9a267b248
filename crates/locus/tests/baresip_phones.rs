//! A real phone proves it (issue 4, DESIGN.md section 3): two Debian
//! baresip 1.0.0 phones, headless, register with digest at `locus sip`,
//! one dials the other's extension, the other answers by itself, and
//! audio flows both ways through Locus's RTP relay: each phone plays its
//! own tone (alice 440 Hz, bob 1000 Hz) and records what it receives, and
//! each recording holds the other phone's tone; alice's DTMF reaches bob.
//! Then alice hangs up: Locus sends BYE to bob, both calls end and the
//! relay's ports are free again.

mod baresip_common;
mod common;
mod reg_common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use baresip_common::{measure_tone, read_wav, write_tone_wav, Baresip, PhoneSpec};
use common::Locus;
use reg_common::{reginfo_docs, Client};

/// Four consecutive free UDP ports on 127.0.0.1, the first even: the
/// relay's whole range, so one call takes exactly these.
fn relay_ports() -> u16 {
    loop {
        let base = common::free_udp_port_on("127.0.0.1") & !1;
        if (1024..=u16::MAX - 3).contains(&base)
            && (base..base + 4).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        {
            return base;
        }
    }
}

fn config(data: &Path, relay_first: u16) -> String {
    // baresip 1.0.0 (libre) computes MD5 only and gives up ("Register:
    // Function not implemented") when the first WWW-Authenticate is
    // SHA-256, as the default offer puts it: the registrar offers MD5 alone.
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]
data_dir = "{data}"

[sip.media]
relay = true
port_range = [{relay_first}, {relay_last}]
# No pool: a released call's relay sockets close, which the test sees.
pool_pairs = 0

[sip.registrar]
algorithms = ["MD5"]

[[sip.users]]
username = "alice"
password = "secret-a"

[[sip.users]]
username = "bob"
password = "secret-b"
"#,
        data = data.display(),
        relay_last = relay_first + 3,
    )
}

/// Both phones' output and events, for failure messages.
fn reports(a: &Baresip, b: &Baresip) -> String {
    format!("{}\n{}", a.report(), b.report())
}

/// Waits (`secs` at most) until `done` holds, polling.
fn wait_until(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if done() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether every port of the relay's range can be bound (no call holds it).
fn relay_ports_free(first: u16) -> bool {
    (first..first + 4).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
}

/// Samples recorded so far in a phone's received-audio file.
fn received_samples(phone: &Baresip) -> usize {
    phone
        .received_wav()
        .and_then(|p| read_wav(&p).ok())
        .map_or(0, |(_, _, s)| s.len())
}

/// Asserts that `phone` received `freq` Hz for a second or more, and
/// returns what it measured.
fn assert_received_tone(phone: &Baresip, freq: f64, all: &str) {
    let path = phone
        .received_wav()
        .unwrap_or_else(|| panic!("{} recorded nothing received\n{all}", phone.user));
    let (rate, channels, samples) = read_wav(&path).unwrap_or_else(|e| panic!("{e}\n{all}"));
    assert_eq!(
        (rate, channels),
        (8000, 1),
        "{}: PCMU decodes to 8 kHz mono\n{all}",
        phone.user
    );
    let tone = measure_tone(&samples);
    assert!(
        tone.loud_frames >= 50,
        "{} received {} loud 20 ms frames of {} samples, want 50 (1 s) or more: {tone:?}\n{all}",
        phone.user,
        tone.loud_frames,
        samples.len()
    );
    assert!(
        (tone.freq - freq).abs() < freq * 0.05,
        "{} received {:.0} Hz, want the other phone's {freq} Hz: {tone:?}\n{all}",
        phone.user,
        tone.freq
    );
}

#[test]
fn baresip_phones_register_call_and_talk_both_ways_through_the_relay() {
    let data = tempfile::tempdir().unwrap();
    let relay_first = relay_ports();
    let locus = Locus::start(&config(data.path(), relay_first), 1);
    let addr = locus.addr("udp");

    // Watch the registrar from outside the phones: a reg event
    // subscription to the whole server (127.0.0.1 is a trusted subscriber).
    let mut watcher = Client::udp(addr);
    let ok = watcher.subscribe(&format!("sip:{addr}"), "reg", 600, "baresip-watch");
    assert_eq!(ok.status(), 200, "{}", ok.text());

    let wavs = tempfile::tempdir().unwrap();
    let (alice_wav, bob_wav) = (wavs.path().join("alice.wav"), wavs.path().join("bob.wav"));
    // 60 s: baresip hangs up when its source file ends; the call ends well
    // before that.
    write_tone_wav(&alice_wav, 440.0, 60);
    write_tone_wav(&bob_wav, 1000.0, 60);
    let mut alice = Baresip::start(&PhoneSpec {
        user: "alice",
        password: "secret-a",
        registrar: addr,
        ip: "127.0.0.1",
        source_wav: &alice_wav,
    });
    let mut bob = Baresip::start(&PhoneSpec {
        user: "bob",
        password: "secret-b",
        registrar: addr,
        ip: "127.0.0.1",
        source_wav: &bob_wav,
    });

    // Both registered: the registrar reports an active contact for each
    // AOR at the phone's own address.
    let registered = |notifies: &[reg_common::Msg], user: &str, sip: SocketAddr| {
        reginfo_docs(notifies).iter().any(|d| {
            d.contacts().any(|(aor, c)| {
                aor.starts_with(&format!("sip:{user}@"))
                    && c.state == reginfo::ContactState::Active
                    && c.uri.split(';').next().is_some_and(|u| {
                        u.starts_with(&format!("sip:{user}")) && u.ends_with(&format!("@{sip}"))
                    })
            })
        })
    };
    let (a_sip, b_sip) = (alice.sip, bob.sip);
    let both = watcher.wait_notifies(30, 200, |n| {
        registered(n, "alice", a_sip) && registered(n, "bob", b_sip)
    });
    assert!(
        both,
        "the registrar did not report both phones registered within 30 s; NOTIFYs:\n{}\n{}",
        watcher
            .notifies
            .iter()
            .map(|n| n.text())
            .collect::<Vec<_>>()
            .join("\n"),
        reports(&alice, &bob)
    );

    // Alice dials bob's extension; bob answers by himself.
    if let Err(e) = alice.ctrl.command("dial", "bob") {
        panic!("dial refused: {e}\n{}", reports(&alice, &bob));
    }
    let established = (
        alice.ctrl.wait_event("CALL_ESTABLISHED", 30).is_some(),
        bob.ctrl.wait_event("CALL_ESTABLISHED", 30).is_some(),
    );
    assert_eq!(
        established,
        (true, true),
        "(alice, bob) calls established within 30 s\n{}",
        reports(&alice, &bob)
    );

    // Two seconds of audio received on each side.
    let flowing = wait_until(30, || {
        received_samples(&alice) >= 16_000 && received_samples(&bob) >= 16_000
    });
    assert!(
        flowing,
        "audio did not flow both ways within 30 s (alice received {} samples, bob {})\n{}",
        received_samples(&alice),
        received_samples(&bob),
        reports(&alice, &bob)
    );

    // Through the relay: each phone's RTP comes from the relay port Locus
    // wrote in the SDP that phone received (C25, symmetric RTP), inside
    // the relay's range; never from the other phone.
    let alice_sdp_port = alice
        .sip_trace()
        .iter()
        .filter(|m| m.from == addr.to_string() && m.start.starts_with("SIP/2.0 200"))
        .find(|m| m.cseq_is("INVITE"))
        .and_then(|m| m.sdp_audio_port());
    let bob_sdp_port = bob
        .sip_trace()
        .iter()
        .filter(|m| m.from == addr.to_string())
        .find(|m| m.start.starts_with("INVITE sip:"))
        .and_then(|m| m.sdp_audio_port());
    let all = reports(&alice, &bob);
    let relay_range = relay_first..relay_first + 4;
    for (user, src, sdp_port) in [
        ("alice", alice.rtp_source(), alice_sdp_port),
        ("bob", bob.rtp_source(), bob_sdp_port),
    ] {
        let src = src.unwrap_or_else(|| panic!("{user} reports no RTP source\n{all}"));
        let sdp_port = sdp_port.unwrap_or_else(|| panic!("no SDP from Locus to {user}\n{all}"));
        assert!(
            relay_range.contains(&sdp_port),
            "{user}'s SDP names port {sdp_port}, outside the relay's {relay_range:?}\n{all}"
        );
        assert_eq!(
            src,
            SocketAddr::from(([127, 0, 0, 1], sdp_port)),
            "{user}'s RTP must come from the relay port in its SDP\n{all}"
        );
    }
    assert!(
        !relay_ports_free(relay_first),
        "the call holds no relay port\n{all}"
    );

    // DTMF too: alice keys 1, 5, 9; bob receives the RFC 4733 events,
    // each with its end, in order, through the relay (C23).
    alice.press_keys("159");
    assert!(
        wait_until(10, || bob.dtmf_received() == "159"),
        "bob received DTMF {:?}, want \"159\"\n{}",
        bob.dtmf_received(),
        reports(&alice, &bob)
    );

    // Alice hangs up: her BYE is answered, Locus sends BYE to bob, both
    // calls end.
    if let Err(e) = alice.ctrl.command("hangup", "") {
        panic!("hangup refused: {e}\n{}", reports(&alice, &bob));
    }
    let closed = (
        alice.ctrl.wait_event("CALL_CLOSED", 30).is_some(),
        bob.ctrl.wait_event("CALL_CLOSED", 30).is_some(),
    );
    assert_eq!(
        closed,
        (true, true),
        "(alice, bob) calls closed within 30 s of the hangup\n{}",
        reports(&alice, &bob)
    );
    // The BYEs and their 200s (alice's call closes as she sends her BYE;
    // its 200 may come after).
    let bye_done = |phone: &Baresip, bye_from_locus: bool| {
        let locus = addr.to_string();
        let trace = phone.sip_trace();
        let bye = trace.iter().any(|m| {
            m.start.starts_with("BYE ") && (if bye_from_locus { &m.from } else { &m.to }) == &locus
        });
        let ok = trace.iter().any(|m| {
            m.start.starts_with("SIP/2.0 200")
                && m.cseq_is("BYE")
                && (if bye_from_locus { &m.to } else { &m.from }) == &locus
        });
        bye && ok
    };
    assert!(
        wait_until(10, || bye_done(&alice, false)),
        "alice's BYE to Locus and Locus's 200 are not both in her trace\n{}",
        reports(&alice, &bob)
    );
    assert!(
        wait_until(10, || bye_done(&bob, true)),
        "Locus's BYE to bob and bob's 200 are not both in his trace\n{}",
        reports(&alice, &bob)
    );
    let all = reports(&alice, &bob);
    // The call is gone from Locus: its relay ports are released.
    assert!(
        wait_until(10, || relay_ports_free(relay_first)),
        "the relay still holds ports of {relay_range:?} 10 s after the BYE\n{all}"
    );

    // What each phone heard is the other's tone (the recordings are
    // complete once the calls have closed).
    assert_received_tone(&bob, 440.0, &all);
    assert_received_tone(&alice, 1000.0, &all);
}
