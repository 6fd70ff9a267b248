//! Properties: parsing never panics; valid SDP round-trips byte for byte;
//! the policy never panics and its results are valid, stable SDP.

use proptest::prelude::*;
use sdp::{
    build_answer, filter_offer, prefer_opus, LocalMedia, MediaIndex, Policy, SessionDescription,
};

fn ipv4() -> impl Strategy<Value = String> {
    any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]))
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![1 => Just(0u16), 1 => 1u16..1024, 8 => 1024u16..=65535]
}

fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "rtpmap:0 PCMU/8000",
            "rtpmap:8 PCMA/8000",
            "rtpmap:9 G722/8000",
            "rtpmap:18 G729/8000",
            "rtpmap:13 CN/8000",
            "rtpmap:96 opus/48000/2",
            "rtpmap:96 opus/48000",
            "rtpmap:97 iLBC/8000",
            "rtpmap:101 telephone-event/8000",
            "rtpmap:111 OPUS/48000/2",
            "fmtp:18 annexb=no",
            "fmtp:96 useinbandfec=1",
            "fmtp:101 0-15",
            "fmtp:101 0-16",
            "fmtp:101 0-15,32-36",
            "fmtp:101 32-36",
            "fmtp:101 nonsense",
            "sendrecv",
            "sendonly",
            "recvonly",
            "inactive",
            "ptime:20",
            "rtcp:80",
            "rtcp:40001 IN IP4 192.0.2.7",
            "rtcp-fb:96 nack",
            "T38FaxVersion:0",
        ])
        .prop_map(str::to_owned),
        ("x-[a-z]{1,8}", proptest::option::of("[ -~]{0,20}")).prop_map(|(n, v)| match v {
            Some(v) => format!("{n}:{v}"),
            None => n,
        }),
    ]
}

fn media_section(needs_c: bool) -> impl Strategy<Value = Vec<String>> {
    (
        prop_oneof![
            4 => Just("audio"),
            1 => prop::sample::select(vec!["video", "image", "application", "AUDIO"]),
        ],
        port(),
        prop::option::of(1u16..4),
        prop_oneof![
            4 => Just("RTP/AVP"),
            1 => prop::sample::select(vec!["RTP/SAVP", "RTP/AVPF", "udptl", "TCP/MSRP"]),
        ],
        prop::collection::vec(
            prop::sample::select(vec![
                "0", "8", "9", "18", "3", "13", "96", "97", "101", "111", "t38", "*",
            ]),
            1..6,
        ),
        prop::option::of(ipv4()),
        prop::collection::vec(attribute(), 0..8),
        prop::option::of("b=AS:[0-9]{1,4}"),
    )
        .prop_map(move |(media, port, count, proto, formats, c, attrs, b)| {
            let mut lines = Vec::new();
            let count = count.map(|n| format!("/{n}")).unwrap_or_default();
            lines.push(format!(
                "m={media} {port}{count} {proto} {}",
                formats.join(" ")
            ));
            match c {
                Some(ip) => lines.push(format!("c=IN IP4 {ip}")),
                None if needs_c => lines.push("c=IN IP4 192.0.2.99".to_owned()),
                None => {}
            }
            lines.extend(b);
            lines.extend(attrs.into_iter().map(|a| format!("a={a}")));
            lines
        })
}

/// Valid SDP, as lines without endings.
fn valid_sdp() -> impl Strategy<Value = Vec<String>> {
    (
        "[a-zA-Z0-9-]{1,12}",
        any::<u32>(),
        any::<u64>(),
        ipv4(),
        "\\PC{1,20}",
        prop::option::of(ipv4()),
        prop::collection::vec(
            prop_oneof![
                attribute().prop_map(|a| format!("a={a}")),
                Just("b=AS:64".to_owned()),
                "[z-zu-u]=[ -~]{0,10}".prop_map(|s| s),
            ],
            0..4,
        ),
    )
        .prop_flat_map(|(user, id, version, o_ip, name, c, extra)| {
            let needs_c = c.is_none();
            prop::collection::vec(media_section(needs_c), 0..4).prop_map(move |media| {
                let mut lines = vec![
                    "v=0".to_owned(),
                    format!("o={user} {id} {version} IN IP4 {o_ip}"),
                    format!("s={}", name.trim()),
                ];
                if lines[2] == "s=" {
                    lines[2] = "s=-".to_owned();
                }
                if let Some(ip) = &c {
                    lines.push(format!("c=IN IP4 {ip}"));
                }
                lines.push("t=0 0".to_owned());
                lines.extend(extra.iter().cloned());
                lines.extend(media.into_iter().flatten());
                lines
            })
        })
}

fn crlf(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn sdp_ish_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v=0".to_owned()),
        "[a-z]=[ -~]{0,30}",
        "m=[a-z]{0,6} [0-9/]{0,7} [A-Za-z/]{0,8}( [0-9a-z*]{1,3}){0,4}",
        "c=[A-Z]{0,3} [A-Z0-9]{0,4} [0-9a-f.:/]{0,20}",
        "o=[ -~]{0,40}",
        "a=(rtpmap|fmtp|rtcp):[ -~]{0,20}",
        "\\PC{0,20}",
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SessionDescription::parse_bytes(&input);
    }

    #[test]
    fn parse_and_policy_never_panic_on_sdp_like_input(
        lines in prop::collection::vec(sdp_ish_line(), 0..16),
        lf in any::<bool>(),
    ) {
        let end = if lf { "\n" } else { "\r\n" };
        let text: String = lines.iter().map(|l| format!("{l}{end}")).collect();
        if let Ok(mut s) = SessionDescription::parse(&text) {
            let again = SessionDescription::parse(&s.serialize()).unwrap();
            prop_assert_eq!(&again, &s);
            let _ = s.media_destinations();
            let policy = Policy::carrier_trunk();
            let local = LocalMedia::new(1, "203.0.113.1".parse().unwrap());
            let _ = build_answer(&s, &policy, &local, |_| 40000);
            let _ = filter_offer(&mut s, &policy);
        }
    }

    #[test]
    fn valid_sdp_round_trips_byte_exact(lines in valid_sdp()) {
        let text = crlf(&lines);
        let parsed = SessionDescription::parse(&text);
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), text);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.serialize(), text.clone());
        // Bare LF in, CRLF out.
        let lf = SessionDescription::parse(&text.replace("\r\n", "\n")).unwrap();
        prop_assert_eq!(lf.serialize(), text);
    }

    #[test]
    fn policy_results_are_valid_and_stable(lines in valid_sdp()) {
        let original = SessionDescription::parse(&crlf(&lines)).unwrap();
        let policy = Policy::carrier_trunk();
        let mut s = original.clone();
        match filter_offer(&mut s, &policy) {
            Ok(outcome) => {
                // The result is valid SDP, and filtering again changes nothing.
                let reparsed = SessionDescription::parse(&s.serialize()).unwrap();
                prop_assert_eq!(&reparsed, &s);
                let mut twice = s.clone();
                let second = filter_offer(&mut twice, &policy).unwrap();
                prop_assert!(second.changes.is_empty(), "{:?}", second.changes);
                prop_assert_eq!(&twice, &s);
                prop_assert_eq!(s.media().len(), original.media().len());
                for i in &outcome.accepted {
                    prop_assert!(s.media()[i.0].port() >= 1024);
                }
                prop_opus_first(&mut s)?;

                let local = LocalMedia::new(7, "203.0.113.1".parse().unwrap());
                let (answer, _) = build_answer(&original, &policy, &local, |i| 40000 + i.0 as u16 * 2).unwrap();
                prop_assert_eq!(answer.media().len(), original.media().len());
                let reparsed = SessionDescription::parse(&answer.serialize()).unwrap();
                prop_assert_eq!(&reparsed, &answer);
                for (i, m) in answer.media().iter().enumerate() {
                    prop_assert_eq!(m.media_type(), original.media()[i].media_type());
                    prop_assert_eq!(m.port() != 0, outcome.accepted.contains(&MediaIndex(i)));
                }
            }
            Err(_) => prop_assert_eq!(&s, &original),
        }
    }
}

fn prop_opus_first(s: &mut SessionDescription) -> Result<(), TestCaseError> {
    let before: Vec<Vec<String>> = s.media().iter().map(|m| m.formats().to_vec()).collect();
    prefer_opus(s);
    for (m, old) in s.media().iter().zip(before) {
        let mut a = m.formats().to_vec();
        let mut b = old;
        a.sort();
        b.sort();
        prop_assert_eq!(a, b, "reordering keeps the same formats");
    }
    Ok(())
}
