//! Realistic SDPs from carriers and phones through the parser and the
//! carrier trunk policy (DESIGN.md C21-C24), named after the rule they prove.

use std::net::{IpAddr, SocketAddr};

use sdp::{
    build_answer, filter_offer, prefer_opus, Change, Direction, LocalMedia, MediaIndex,
    NotAcceptable, Policy, Rejection, SdpError, SessionDescription, StreamRejection,
};

/// Joins lines with CRLF, as on the wire.
fn sdp(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn parse(lines: &[&str]) -> SessionDescription {
    SessionDescription::parse(&sdp(lines)).expect("valid SDP")
}

fn policy() -> Policy {
    Policy::carrier_trunk()
}

fn relay() -> LocalMedia {
    LocalMedia::new(4242, "203.0.113.5".parse().unwrap())
}

const GENESYS_OFFER: &[&str] = &[
    "v=0",
    "o=- 3831497523 3831497523 IN IP4 52.129.0.10",
    "s=Genesys Cloud",
    "c=IN IP4 52.129.0.10",
    "t=0 0",
    "m=audio 16384 RTP/AVP 116 0 8 9 18 101",
    "a=rtpmap:116 opus/48000/2",
    "a=fmtp:116 useinbandfec=1;maxaveragebitrate=32000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=ptime:20",
    "a=sendrecv",
    "a=x-genesys-media-id:7f3c",
];

const CUBE_OFFER: &[&str] = &[
    "v=0",
    "o=CiscoSystemsSIP-GW-UserAgent 4157 2208 IN IP4 198.51.100.20",
    "s=SIP Call",
    "c=IN IP4 198.51.100.20",
    "t=0 0",
    "m=audio 8000 RTP/AVP 18 0 8 101 19",
    "c=IN IP4 198.51.100.21",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=rtpmap:19 CN/8000",
    "a=ptime:20",
];

const POLYCOM_OFFER: &[&str] = &[
    "v=0",
    "o=- 1714503623 1714503623 IN IP4 10.1.20.55",
    "s=Polycom IP Phone",
    "c=IN IP4 10.1.20.55",
    "t=0 0",
    "a=sendrecv",
    "m=audio 2222 RTP/AVP 115 102 9 103 116 0 8 18 96 127 101",
    "a=rtpmap:115 G7221/32000",
    "a=fmtp:115 bitrate=48000",
    "a=rtpmap:102 G7221/16000",
    "a=fmtp:102 bitrate=32000",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:103 G7221/16000",
    "a=fmtp:103 bitrate=24000",
    "a=rtpmap:116 iLBC/8000",
    "a=fmtp:116 mode=30",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:96 SILK/16000",
    "a=rtpmap:127 red/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=rtcp-fb:96 nack",
];

const T38_REINVITE: &[&str] = &[
    "v=0",
    "o=CiscoSystemsSIP-GW-UserAgent 4157 2209 IN IP4 198.51.100.20",
    "s=SIP Call",
    "c=IN IP4 198.51.100.20",
    "t=0 0",
    "m=image 8002 udptl t38",
    "c=IN IP4 198.51.100.20",
    "a=T38FaxVersion:0",
    "a=T38MaxBitRate:14400",
    "a=T38FaxFillBitRemoval",
    "a=T38FaxRateManagement:transferredTCF",
    "a=T38FaxMaxBuffer:200",
    "a=T38FaxMaxDatagram:320",
    "a=T38FaxUdpEC:t38UDPRedundancy",
];

const AUDIO_AND_T38: &[&str] = &[
    "v=0",
    "o=- 20 21 IN IP4 198.51.100.30",
    "s=-",
    "c=IN IP4 198.51.100.30",
    "t=0 0",
    "m=audio 30000 RTP/AVP 8 101",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "m=image 30002 udptl t38",
    "a=T38FaxVersion:0",
    "a=T38FaxRateManagement:transferredTCF",
];

// ---- line preservation ----

#[test]
fn realistic_sdps_round_trip_byte_exact() {
    for lines in [
        GENESYS_OFFER,
        CUBE_OFFER,
        POLYCOM_OFFER,
        T38_REINVITE,
        AUDIO_AND_T38,
    ] {
        let text = sdp(lines);
        let parsed = SessionDescription::parse(&text).unwrap();
        assert_eq!(parsed.serialize(), text);
        assert_eq!(parsed.to_string(), text);
        assert_eq!(text.parse::<SessionDescription>().unwrap(), parsed);
    }
}

#[test]
fn bare_lf_input_is_written_with_crlf() {
    let crlf = sdp(CUBE_OFFER);
    let lf = crlf.replace("\r\n", "\n");
    assert_eq!(SessionDescription::parse(&lf).unwrap().serialize(), crlf);
}

#[test]
fn typed_access_on_a_carrier_offer() {
    let s = parse(CUBE_OFFER);
    assert_eq!(s.origin().username, "CiscoSystemsSIP-GW-UserAgent");
    assert_eq!(s.origin().session_version, 2208);
    assert_eq!(s.connection().unwrap().address, "198.51.100.20");
    let m = &s.media()[0];
    assert_eq!(m.media_type(), "audio");
    assert_eq!(m.port(), 8000);
    assert_eq!(m.proto(), "RTP/AVP");
    assert_eq!(m.formats(), ["18", "0", "8", "101", "19"]);
    assert_eq!(m.rtpmap("18").unwrap().encoding, "G729");
    assert_eq!(m.fmtp("18").unwrap().parameters, "annexb=no");
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.connection().unwrap().address, "198.51.100.21");
    assert_eq!(s.effective_direction(MediaIndex(0)), Direction::SendRecv);
}

// ---- C21 codecs ----

#[test]
fn c21_removes_unsupported_codecs() {
    let mut s = parse(CUBE_OFFER);
    let outcome = filter_offer(&mut s, &policy()).unwrap();
    let m = &s.media()[0];
    assert_eq!(m.formats(), ["18", "0", "8", "101"]);
    assert!(m.rtpmap("19").is_none(), "CN rtpmap removed");
    assert!(outcome.changes.contains(&Change::RemovedFormat {
        media: MediaIndex(0),
        format: "19".into(),
        encoding: Some("CN".into()),
    }));
    assert_eq!(outcome.accepted, [MediaIndex(0)]);
    assert!(!s.serialize().contains("CN/8000"));
}

#[test]
fn c21_polycom_offer_keeps_only_allowed_codecs_and_their_lines() {
    let mut s = parse(POLYCOM_OFFER);
    filter_offer(&mut s, &policy()).unwrap();
    let expected = sdp(&[
        "v=0",
        "o=- 1714503623 1714503623 IN IP4 10.1.20.55",
        "s=Polycom IP Phone",
        "c=IN IP4 10.1.20.55",
        "t=0 0",
        "a=sendrecv",
        "m=audio 2222 RTP/AVP 9 0 8 18 101",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:18 G729/8000",
        "a=fmtp:18 annexb=no",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ]);
    assert_eq!(s.serialize(), expected);
}

#[test]
fn c21_genesys_offer_is_left_untouched() {
    let text = sdp(GENESYS_OFFER);
    let mut s = SessionDescription::parse(&text).unwrap();
    let outcome = filter_offer(&mut s, &policy()).unwrap();
    assert!(outcome.changes.is_empty());
    assert_eq!(s.serialize(), text);
}

#[test]
fn c21_static_payload_types_without_rtpmap_are_recognised() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0 3 4 8 9 13 18",
    ]);
    filter_offer(&mut s, &policy()).unwrap();
    assert_eq!(s.media()[0].formats(), ["0", "8", "9", "18"]);
}

#[test]
fn c21_encoding_names_match_case_insensitively() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 97 98 99",
        "a=rtpmap:97 OPUS/48000/2",
        "a=rtpmap:98 pcmu/8000",
        "a=rtpmap:99 opus/48000",
    ]);
    filter_offer(&mut s, &policy()).unwrap();
    // opus without its 2 channels is not RFC 7587 opus.
    assert_eq!(s.media()[0].formats(), ["97", "98"]);
}

#[test]
fn c21_opus_with_fmtp_is_kept_and_put_first() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/SAVP 0 8 111 101",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1;stereo=0",
        "a=rtpmap:101 telephone-event/48000",
        "a=fmtp:101 0-15",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
    ]);
    filter_offer(&mut s, &policy()).unwrap();
    prefer_opus(&mut s);
    let m = &s.media()[0];
    assert_eq!(m.formats(), ["111", "0", "8", "101"]);
    assert_eq!(
        m.fmtp("111").unwrap().parameters,
        "minptime=10;useinbandfec=1;stereo=0"
    );
    assert!(m.attribute("crypto").is_some(), "unknown attributes kept");
}

#[test]
fn c21_offer_with_only_unsupported_codecs_is_488() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 3 97",
        "a=rtpmap:97 iLBC/8000",
    ]);
    let before = s.clone();
    let err = filter_offer(&mut s, &policy()).unwrap_err();
    assert_eq!(err.status(), 488);
    assert_eq!(
        err,
        Rejection::NotAcceptableHere {
            reason: NotAcceptable::NoUsableAudio
        }
    );
    assert_eq!(s, before, "a refused offer is left unchanged");
}

// ---- C22 fax ----

#[test]
fn c22_t38_alongside_audio_is_rejected_with_port_zero() {
    let offer = parse(AUDIO_AND_T38);
    let (answer, outcome) = build_answer(&offer, &policy(), &relay(), |_| 50000).unwrap();
    assert_eq!(answer.media().len(), 2);
    assert_eq!(answer.media()[0].port(), 50000);
    assert_eq!(answer.media()[0].formats(), ["8", "101"]);
    let image = &answer.media()[1];
    assert_eq!(image.media_type(), "image");
    assert_eq!(image.port(), 0);
    assert_eq!(image.proto(), "udptl");
    assert_eq!(image.formats(), ["t38"]);
    assert!(outcome.changes.contains(&Change::RejectedStream {
        media: MediaIndex(1),
        reason: StreamRejection::T38Refused,
    }));
    assert_eq!(outcome.accepted, [MediaIndex(0)]);

    // The filtered offer keeps the m-line with port 0 too.
    let mut filtered = parse(AUDIO_AND_T38);
    filter_offer(&mut filtered, &policy()).unwrap();
    assert_eq!(filtered.media()[1].port(), 0);
    assert!(filtered.serialize().contains("m=image 0 udptl t38\r\n"));
}

#[test]
fn c22_t38_only_offer_is_488() {
    let mut s = parse(T38_REINVITE);
    let err = filter_offer(&mut s, &policy()).unwrap_err();
    assert_eq!(err.status(), 488);
    assert_eq!(
        err,
        Rejection::NotAcceptableHere {
            reason: NotAcceptable::T38Only
        }
    );
    let answer = build_answer(&parse(T38_REINVITE), &policy(), &relay(), |_| 50000);
    assert_eq!(answer.unwrap_err().status(), 488);
}

#[test]
fn c22_t38_with_disabled_audio_is_488() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 2 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 0 RTP/AVP 0",
        "m=image 40000 udptl t38",
    ]);
    let err = filter_offer(&mut s, &policy()).unwrap_err();
    assert_eq!(
        err,
        Rejection::NotAcceptableHere {
            reason: NotAcceptable::T38Only
        }
    );
}

// ---- C23 telephone-event ----

#[test]
fn c23_telephone_event_limited_to_0_15() {
    let mut s = parse(CUBE_OFFER);
    let outcome = filter_offer(&mut s, &policy()).unwrap();
    assert_eq!(s.media()[0].fmtp("101").unwrap().parameters, "0-15");
    assert!(s.serialize().contains("a=fmtp:101 0-15\r\n"));
    assert!(outcome.changes.contains(&Change::LimitedTelephoneEvents {
        media: MediaIndex(0),
        format: "101".into(),
        events: "0-15".into(),
    }));
}

fn with_events(list: &str) -> SessionDescription {
    let fmtp = format!("a=fmtp:101 {list}");
    parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0 101",
        "a=rtpmap:101 telephone-event/8000",
        &fmtp,
    ])
}

#[test]
fn c23_telephone_event_ranges_beyond_15_are_dropped() {
    let mut s = with_events("0-15,32-36");
    filter_offer(&mut s, &policy()).unwrap();
    assert_eq!(s.media()[0].fmtp("101").unwrap().parameters, "0-15");

    let mut s = with_events("0-11,16");
    filter_offer(&mut s, &policy()).unwrap();
    assert_eq!(s.media()[0].fmtp("101").unwrap().parameters, "0-11");
}

#[test]
fn c23_telephone_event_without_events_in_range_is_removed() {
    let mut s = with_events("32-36");
    let outcome = filter_offer(&mut s, &policy()).unwrap();
    let m = &s.media()[0];
    assert_eq!(m.formats(), ["0"]);
    assert!(m.rtpmap("101").is_none() && m.fmtp("101").is_none());
    assert!(outcome.changes.contains(&Change::RemovedTelephoneEvent {
        media: MediaIndex(0),
        format: "101".into(),
    }));
}

#[test]
fn c23_telephone_event_alone_is_not_usable_audio() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 101",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ]);
    assert_eq!(filter_offer(&mut s, &policy()).unwrap_err().status(), 488);
}

// ---- C24 ports and destinations ----

const PORTS_80_AND_0: &[&str] = &[
    "v=0",
    "o=- 1 1 IN IP4 192.0.2.1",
    "s=-",
    "c=IN IP4 192.0.2.1",
    "t=0 0",
    "m=audio 80 RTP/AVP 0",
    "m=video 0 RTP/AVP 31",
];

#[test]
fn c24_port_below_1024_is_488() {
    let mut s = parse(PORTS_80_AND_0);
    let err = filter_offer(&mut s, &policy()).unwrap_err();
    assert_eq!(err.status(), 488);
    match &err {
        Rejection::NotAcceptableHere { reason } => {
            assert_eq!(
                reason.to_string(),
                "RTP port 80 is a well-known port (0-1023)"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    for port in ["1", "1023"] {
        let mut lines = PORTS_80_AND_0.to_vec();
        let m = format!("m=audio {port} RTP/AVP 0");
        lines[5] = &m;
        assert_eq!(
            filter_offer(&mut parse(&lines), &policy())
                .unwrap_err()
                .status(),
            488
        );
    }
    let mut lines = PORTS_80_AND_0.to_vec();
    lines[5] = "m=audio 1024 RTP/AVP 0";
    assert!(filter_offer(&mut parse(&lines), &policy()).is_ok());
}

#[test]
fn c24_rtcp_port_below_1024_is_488() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0",
        "a=rtcp:443 IN IP4 192.0.2.2",
    ]);
    let err = filter_offer(&mut s, &policy()).unwrap_err();
    assert_eq!(err.status(), 488);
    assert!(err.to_string().contains("RTCP port 443"), "{err}");
}

#[test]
fn c24_port_zero_is_a_disabled_stream() {
    let mut s = parse(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0",
        "m=video 0 RTP/AVP 31",
    ]);
    let outcome = filter_offer(&mut s, &policy()).unwrap();
    assert_eq!(outcome.accepted, [MediaIndex(0)]);
    assert_eq!(s.media()[1].port(), 0);
    assert_eq!(
        s.media_destinations(),
        [(MediaIndex(0), "192.0.2.1:40000".parse().unwrap())]
    );
    let (answer, _) = build_answer(&s, &policy(), &relay(), |_| 50000).unwrap();
    assert_eq!(answer.media()[1].port(), 0);
    assert_eq!(answer.media()[1].media_type(), "video");
}

#[test]
fn c24_media_destinations_come_from_the_sdp() {
    let s = parse(CUBE_OFFER);
    // Media-level c= wins over session-level c=.
    assert_eq!(
        s.media_destinations(),
        [(MediaIndex(0), "198.51.100.21:8000".parse().unwrap())]
    );
    assert_eq!(
        s.rtcp_destination(MediaIndex(0)),
        Some("198.51.100.21:8001".parse().unwrap())
    );
    let s = parse(GENESYS_OFFER);
    assert_eq!(
        s.media_destinations(),
        [(MediaIndex(0), "52.129.0.10:16384".parse().unwrap())]
    );
    let v6 = parse(&[
        "v=0",
        "o=- 1 1 IN IP6 2001:db8::1",
        "s=-",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0",
        "c=IN IP6 2001:db8::2",
        "a=rtcp:40009",
    ]);
    let addr: SocketAddr = "[2001:db8::2]:40000".parse().unwrap();
    assert_eq!(v6.media_destinations(), [(MediaIndex(0), addr)]);
    assert_eq!(
        v6.rtcp_destination(MediaIndex(0)),
        Some("[2001:db8::2]:40009".parse().unwrap())
    );
}

// ---- RFC 3264 answers ----

#[test]
fn rfc3264_answer_mirrors_direction_and_keeps_offer_order() {
    let offer = parse(&[
        "v=0",
        "o=- 7 7 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 18 3 0 101",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:30",
        "a=sendonly",
    ]);
    let (answer, _) =
        build_answer(&offer, &policy(), &relay(), |i| 50000 + 2 * i.0 as u16).unwrap();
    let expected = sdp(&[
        "v=0",
        "o=- 4242 4242 IN IP4 203.0.113.5",
        "s=-",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
        "m=audio 50000 RTP/AVP 18 0 101",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:30",
        "a=recvonly",
    ]);
    assert_eq!(answer.serialize(), expected);
    assert_eq!(
        answer.effective_direction(MediaIndex(0)),
        Direction::RecvOnly
    );
    assert_eq!(
        answer.media_destinations(),
        [(MediaIndex(0), "203.0.113.5:50000".parse().unwrap())]
    );
    // The answer parses back to itself.
    assert_eq!(SessionDescription::parse(&expected).unwrap(), answer);
}

#[test]
fn rfc3264_session_level_direction_is_mirrored_per_stream() {
    let offer = parse(&[
        "v=0",
        "o=- 7 8 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "a=recvonly",
        "m=audio 40000 RTP/AVP 0",
    ]);
    let (answer, _) = build_answer(&offer, &policy(), &relay(), |_| 50000).unwrap();
    assert_eq!(answer.media()[0].direction(), Some(Direction::SendOnly));
}

// ---- relay mutators ----

#[test]
fn relay_rewrites_only_the_lines_it_changes() {
    let mut s = parse(CUBE_OFFER);
    let relay_ip: IpAddr = "203.0.113.5".parse().unwrap();
    s.set_connection_address(relay_ip);
    s.set_origin_address(relay_ip);
    s.media_mut()[0].set_port(50000);
    s.media_mut()[0].set_direction(Direction::SendOnly);
    s.bump_version();
    let expected = sdp(&[
        "v=0",
        "o=CiscoSystemsSIP-GW-UserAgent 4157 2209 IN IP4 203.0.113.5",
        "s=SIP Call",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
        "m=audio 50000 RTP/AVP 18 0 8 101 19",
        "c=IN IP4 203.0.113.5",
        "a=rtpmap:18 G729/8000",
        "a=fmtp:18 annexb=no",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=rtpmap:19 CN/8000",
        "a=ptime:20",
        "a=sendonly",
    ]);
    assert_eq!(s.serialize(), expected);
    assert_eq!(s.origin().session_version, 2209);
}

// ---- malformed input ----

#[test]
fn bad_media_line_names_its_line() {
    let text = sdp(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "a=tool:x",
        "m=audio 70000 RTP/AVP 0",
    ]);
    let err = SessionDescription::parse(&text).unwrap_err();
    assert!(
        matches!(err, SdpError::BadMediaLine { line: 7, .. }),
        "{err:?}"
    );
    assert_eq!(Rejection::from(err).status(), 400);
}

#[test]
fn media_without_any_connection_is_malformed() {
    let text = sdp(&[
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0",
    ]);
    assert_eq!(
        SessionDescription::parse(&text).unwrap_err(),
        SdpError::MissingConnection { line: 5 }
    );
}
