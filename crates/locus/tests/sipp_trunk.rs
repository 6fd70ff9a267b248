//! Carrier trunk rules C4 to C8, C14, C15, C17, C18 and C20's rate limit,
//! with SIPp playing the carrier from its own loopback address.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{scenario, scenario_from_template, sipp_from, Locus};

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]

[[sip.trunks]]
name = "voice-carrier"
profile = "voice"
carrier_addresses = ["127.0.0.2"]

[[sip.trunks]]
name = "byoc-carrier"
profile = "byoc"
carrier_addresses = ["127.0.0.3/32"]

[[sip.trunks]]
name = "limited-carrier"
profile = "voice"
carrier_addresses = ["127.0.0.4"]
rate_limit = { per_second = 1, burst = 4 }
"#;

struct Case<'a> {
    from: &'a str,
    method: &'a str,
    in_dialog: bool,
    ruser: &'a str,
    touser: &'a str,
    status: &'a str,
    extra: &'a str,
}

const BASE: Case<'static> = Case {
    from: "127.0.0.2",
    method: "OPTIONS",
    in_dialog: false,
    ruser: "+15551230000",
    touser: "+15551230000",
    status: "200",
    extra: "",
};

fn run(locus: &Locus, case: &Case<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let needs_allow = matches!(case.status, "405" | "501");
    let ack = if case.method == "INVITE" {
        "<send><![CDATA[\n\nACK sip:@RUSER@@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\nMax-Forwards: 70\nFrom: \"Carrier\" <sip:+15550001000@[local_ip]:[local_port]>;tag=[pid]SIPpTag10[call_number]\n[last_To:]\nCall-ID: [call_id]\nCSeq: 1 ACK\nContent-Length: 0\n\n]]></send>"
            .replace("@RUSER@", case.ruser)
    } else {
        String::new()
    };
    let file = scenario_from_template(
        dir.path(),
        "trunk_request.xml.tmpl",
        &[
            ("METHOD", case.method),
            ("RUSER", case.ruser),
            ("TOUSER", case.touser),
            ("TOTAG", if case.in_dialog { ";tag=callee1" } else { "" }),
            ("STATUS", case.status),
            ("EXTRA", case.extra),
            (
                "ALLOW_RE",
                if needs_allow {
                    "INVITE, ACK, BYE, CANCEL, REFER, NOTIFY, OPTIONS, INFO"
                } else {
                    ".*"
                },
            ),
            ("ALLOW_HDR", if needs_allow { "Allow:" } else { "Via:" }),
            ("ACK", &ack),
        ],
    );
    let r = sipp_from(case.from, &file, locus.addr("udp"), "u1", &[]);
    assert!(
        r.success,
        "{} from {} expected {}:\n{}",
        case.method, case.from, case.status, r.log
    );
}

#[test]
fn c6_c17_unsupported_methods_get_405_with_allow() {
    let locus = Locus::start(CONFIG, 2);
    for method in [
        "SUBSCRIBE",
        "MESSAGE",
        "UPDATE",
        "PRACK",
        "PUBLISH",
        "REGISTER",
    ] {
        run(
            &locus,
            &Case {
                method,
                status: "405",
                ..BASE
            },
        );
    }
}

#[test]
fn c6_info_inside_a_dialog_gets_405() {
    let locus = Locus::start(CONFIG, 2);
    run(
        &locus,
        &Case {
            method: "INFO",
            in_dialog: true,
            status: "405",
            ..BASE
        },
    );
}

#[test]
fn c5_options_and_info_outside_a_dialog_get_200() {
    let locus = Locus::start(CONFIG, 2);
    run(&locus, &BASE);
    run(
        &locus,
        &Case {
            method: "INFO",
            ..BASE
        },
    );
}

#[test]
fn c7_unknown_method_gets_501_with_allow() {
    let locus = Locus::start(CONFIG, 2);
    run(
        &locus,
        &Case {
            method: "BREW",
            status: "501",
            ..BASE
        },
    );
}

#[test]
fn c8_voice_invite_without_e164_gets_484() {
    let locus = Locus::start(CONFIG, 2);
    run(
        &locus,
        &Case {
            method: "INVITE",
            ruser: "5551230000",
            touser: "alice",
            status: "484",
            ..BASE
        },
    );
}

#[test]
fn c8_voice_invite_with_e164_in_to_only_is_not_484() {
    let locus = Locus::start(CONFIG, 2);
    // No inbound route for the number exists: the called party is known not
    // to be here, so 404 (C12), but not 484.
    run(
        &locus,
        &Case {
            method: "INVITE",
            ruser: "5551230000",
            touser: "+15551230000",
            status: "404",
            ..BASE
        },
    );
}

#[test]
fn c8_byoc_passes_any_user() {
    let locus = Locus::start(CONFIG, 2);
    run(
        &locus,
        &Case {
            from: "127.0.0.3",
            method: "INVITE",
            ruser: "support",
            touser: "support",
            status: "404",
            ..BASE
        },
    );
}

#[test]
fn c4_only_carrier_addresses_are_served_as_the_trunk() {
    let locus = Locus::start(CONFIG, 2);
    // From 127.0.0.5 (no trunk) the voice rule does not apply...
    run(
        &locus,
        &Case {
            from: "127.0.0.5",
            method: "INVITE",
            ruser: "5551230000",
            touser: "alice",
            status: "404",
            ..BASE
        },
    );
    // ...and from the carrier's address it does.
    run(
        &locus,
        &Case {
            method: "INVITE",
            ruser: "5551230000",
            touser: "alice",
            status: "484",
            ..BASE
        },
    );
}

#[test]
fn c18_carrier_credentials_are_ignored() {
    let locus = Locus::start(CONFIG, 2);
    run(
        &locus,
        &Case {
            method: "OPTIONS",
            extra: "Authorization: Digest username=\"carrier\", realm=\"x\", nonce=\"1\", uri=\"sip:x\", response=\"00000000000000000000000000000000\"",
            ..BASE
        },
    );
}

#[test]
fn c14_c15_compact_headers_and_unknown_headers_are_accepted() {
    let locus = Locus::start(CONFIG, 2);
    let r = sipp_from(
        "127.0.0.2",
        &scenario("compact_options.xml"),
        locus.addr("udp"),
        "u1",
        &[],
    );
    assert!(r.success, "{}", r.log);
}

fn options_from(sock: &UdpSocket, n: usize) -> String {
    let local = sock.local_addr().unwrap();
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKflood{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:c@{local}>;tag=f{n}\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: flood{n}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn c20_flood_from_one_source_gets_503_then_silence_without_slowing_others() {
    let locus = Locus::start(CONFIG, 2);
    let target = locus.addr("udp");
    let flood = UdpSocket::bind("127.0.0.4:0").unwrap();
    for n in 0..30 {
        flood
            .send_to(options_from(&flood, n).as_bytes(), target)
            .unwrap();
    }
    // Another carrier is served meanwhile.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other
        .send_to(options_from(&other, 99).as_bytes(), target)
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = other.recv(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200 "),
        "other carrier slowed"
    );

    flood
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (mut ok, mut busy, mut retry_after) = (0, 0, false);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let Ok(n) = flood.recv(&mut buf) else { break };
        let text = String::from_utf8_lossy(&buf[..n]);
        if text.starts_with("SIP/2.0 200 ") {
            ok += 1;
        } else if text.starts_with("SIP/2.0 503 ") {
            busy += 1;
            retry_after |= text.contains("\r\nRetry-After: 1\r\n");
        }
    }
    // Burst 4 plus the one sustained token, maybe one more refilled while
    // the 30 datagrams were read: 5 or 6 served, one 503, the rest dropped.
    assert!((5..=6).contains(&ok), "served {ok}");
    assert_eq!(busy, 1, "one 503 then silence");
    assert!(retry_after, "503 carries Retry-After");
}
