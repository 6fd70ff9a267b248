//! Call media through Locus's relay, end to end (DESIGN.md C10, C21-C25;
//! issue 3 items 2 and 5). SIPp plays the carrier from 127.0.0.2 and the
//! far end on 127.0.0.6 for the signalling; the RTP comes from UDP sockets
//! the test owns (or from SIPp's `rtp_stream`), whose ports the SIPp
//! scenarios write in their SDP. Each scenario writes the relay address it
//! found in the SDP it received to a file (`a_relay` for the carrier's
//! side, `b_relay` for the far end's), so the test knows where to send and
//! from where packets must come.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    assert_carrier_and_far_end_succeeded, byoc_trunk_routed, free_port, scenario_from_template,
    sip_config_with_carrier, sipp_carrier_bye, sipp_carrier_cancelled, sipp_carrier_invite,
    sipp_carrier_rejected, sipp_from, sipp_rejects, sipp_response, sipp_rings_then_cancelled,
    sipp_takes_bye, Locus, SippRun, SippServer, SIPP_UAS_TAG,
};

const DID: &str = "+15551230000";
const CARRIER_IP: &str = "127.0.0.2";
const FAR_IP: &str = "127.0.0.6";

/// Locus with a voice carrier on 127.0.0.2 and the far end's trunk, media
/// relayed; `media` adds keys to `[sip.media]`.
fn locus(far: SocketAddr, media: &str) -> Locus {
    let config = format!(
        r#"{}
[sip.media]
relay = true
{media}
{}"#,
        sip_config_with_carrier(50, CARRIER_IP),
        byoc_trunk_routed("far", FAR_IP, &[far], "", DID)
    );
    Locus::start(&config, 1)
}

/// The carrier's usual audio offer: PCMU, PCMA, GSM (removed by C21) and
/// telephone-event 0-16 (narrowed to 0-15 by C23).
fn audio_offer(port: u16) -> String {
    format!(
        "m=audio {port} RTP/AVP 0 8 3 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16"
    )
}

/// The far end's answer media lines.
fn audio_answer(port: u16) -> String {
    format!(
        "m=audio {port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15"
    )
}

fn far_sdp_response(status: &str, media: &str) -> String {
    let sdp = format!(
        "Content-Type: application/sdp
Content-Length: [len]

v=0
o=far 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
{media}
"
    );
    sipp_response(
        status,
        SIPP_UAS_TAG,
        "Contact: <sip:far@[local_ip]:[local_port];transport=[transport]>",
        &sdp,
    )
}

/// The far end answers 200 with `media`, takes the ACK, then the BYE.
fn far_answers_then_bye(media: &str) -> String {
    format!(
        "{}\n  <recv request=\"ACK\" crlf=\"true\"/>\n  {}",
        far_sdp_response("200 OK", media),
        sipp_takes_bye()
    )
}

/// One call: the far end SIPp in the background, the carrier SIPp on a
/// thread.
struct Call {
    dir: tempfile::TempDir,
    far: Option<SippServer>,
    carrier: Option<JoinHandle<SippRun>>,
    locus: Locus,
}

/// What a call is made of.
struct Spec<'a> {
    offer: String,
    prov: &'a str,
    answer_check: &'a str,
    after: String,
    offer_check: &'a str,
    far_steps: String,
    media_config: &'a str,
    sipp_extra: Vec<String>,
}

impl Call {
    fn start(spec: Spec<'_>) -> Call {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let far_file = scenario_from_template(
            dir.path(),
            "media_far.xml.tmpl",
            &[
                ("OFFER_CHECK", spec.offer_check),
                ("STEPS", &spec.far_steps),
                ("DIR", &d),
            ],
        );
        let far = SippServer::start(&far_file, FAR_IP);
        let locus = locus(far.addr, spec.media_config);
        let carrier_file = scenario_from_template(
            dir.path(),
            "media_carrier.xml.tmpl",
            &[
                ("MEDIA", &spec.offer),
                ("PROV", spec.prov),
                ("ANSWER_CHECK", spec.answer_check),
                ("AFTER", &spec.after),
                ("DID", DID),
                ("DIR", &d),
            ],
        );
        let target = locus.addr("udp");
        let extra = spec.sipp_extra;
        let carrier = std::thread::spawn(move || {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            sipp_from(CARRIER_IP, &carrier_file, target, "u1", &extra)
        });
        Call {
            dir,
            far: Some(far),
            carrier: Some(carrier),
            locus,
        }
    }

    /// The relay address a side found in its SDP (`a_relay`, `b_relay`),
    /// waiting 10 s at most for the scenario to write it.
    fn relay(&self, name: &str) -> SocketAddr {
        if let Some(a) = written_relay(self.dir.path(), name, Duration::from_secs(10)) {
            return a;
        }
        let files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let far =
            std::fs::read_to_string(self.dir.path().join("media_far.xml")).unwrap_or_default();
        panic!("no {name} written; files {files:?}\n{far}");
    }

    fn exists(&self, name: &str) -> bool {
        self.dir.path().join(name).exists()
    }

    /// Waits for both SIPp runs and asserts they succeeded.
    /// Both SIPp runs played their scenario to the end; Locus, still
    /// running, for checks after the call.
    fn finish(mut self) -> Locus {
        let c = self.carrier.take().unwrap().join().unwrap();
        let f = self.far.take().unwrap().finish();
        assert_carrier_and_far_end_succeeded(&c, &f);
        self.locus
    }
}

/// The relay address a scenario wrote to the file `name` in `dir`
/// (`a_relay`, `b_relay`), once written; `None` after `wait`.
fn written_relay(dir: &Path, name: &str, wait: Duration) -> Option<SocketAddr> {
    let path = dir.join(name);
    let deadline = Instant::now() + wait;
    loop {
        if let Some(a) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return Some(a);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn socket(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn port(s: &UdpSocket) -> u16 {
    s.local_addr().unwrap().port()
}

/// An RTP packet: version 2, `pt`, sequence `seq`, SSRC 0x1234, `payload`.
fn rtp(pt: u8, marker: bool, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 2048];
    s.recv_from(&mut buf)
        .ok()
        .map(|(n, a)| (buf[..n].to_vec(), a))
}

/// A UDP port can be bound again: the relay closed its socket (with
/// `pool_pairs = 0`).
fn freed(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if UdpSocket::bind(addr).is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A call with both ends' RTP on test sockets; `check` runs while the call
/// is up (the carrier hangs up after `hold_ms`).
fn rtp_call(hold_ms: u64, check: impl FnOnce(&Call, &UdpSocket, &UdpSocket)) {
    let carrier_rtp = socket(CARRIER_IP);
    let far_rtp = socket(FAR_IP);
    let call = Call::start(Spec {
        offer: audio_offer(port(&carrier_rtp)),
        prov: "",
        answer_check: "",
        after: sipp_carrier_bye(DID, hold_ms),
        offer_check: "",
        far_steps: far_answers_then_bye(&audio_answer(port(&far_rtp))),
        media_config: "",
        sipp_extra: Vec::new(),
    });
    check(&call, &carrier_rtp, &far_rtp);
    let (a, b) = (call.relay("a_relay"), call.relay("b_relay"));
    // Locus keeps running: its relay ports stay bound (pooled).
    let _locus = call.finish();
    // Once the call ended its relay ports (pooled for the next calls, the
    // default) carry nothing between its two ends any more.
    for s in [&carrier_rtp, &far_rtp] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    // SIPp takes any 200 as the BYE's, so on a loaded machine a late
    // retransmission of the INVITE's 200 can end its scenario before Locus
    // has the BYE: give the hangup 2 s to land, then nothing may pass.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seq = 800;
    loop {
        carrier_rtp
            .send_to(&rtp(0, false, seq, &[0xff; 160]), a)
            .unwrap();
        if recv(&far_rtp).is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still relayed 2 s after the call ended"
        );
        seq += 1;
    }
    carrier_rtp
        .send_to(&rtp(0, false, 900, &[0xff; 160]), a)
        .unwrap();
    far_rtp
        .send_to(&rtp(0, false, 901, &[0xff; 160]), b)
        .unwrap();
    assert_eq!(recv(&far_rtp), None, "relayed after the call ended");
    assert_eq!(recv(&carrier_rtp), None, "relayed after the call ended");
}

#[test]
fn c25_symmetric_rtp_through_the_relay_both_ways() {
    rtp_call(2500, |call, carrier_rtp, far_rtp| {
        let a = call.relay("a_relay");
        let b = call.relay("b_relay");
        assert_ne!(
            a.port(),
            port(carrier_rtp),
            "the carrier must see the relay"
        );
        assert_ne!(b.port(), port(far_rtp), "the far end must see the relay");
        for seq in 0..5u16 {
            let p = rtp(0, seq == 0, seq, &[0xd5; 160]);
            carrier_rtp.send_to(&p, a).unwrap();
            let (got, from) = recv(far_rtp).expect("RTP carrier -> far end");
            assert_eq!(got, p, "RTP is relayed unchanged");
            // C25: it comes from the port the far end sends to.
            assert_eq!(
                from, b,
                "C25: sent from the relay port in the far end's SDP"
            );
        }
        for seq in 0..5u16 {
            let p = rtp(0, false, 100 + seq, &[0x55; 160]);
            far_rtp.send_to(&p, b).unwrap();
            let (got, from) = recv(carrier_rtp).expect("RTP far end -> carrier");
            assert_eq!(got, p);
            assert_eq!(
                from, a,
                "C25: sent from the relay port in the carrier's SDP"
            );
        }
    });
}

#[test]
fn c24_no_latching_media_goes_to_the_sdp_addresses() {
    rtp_call(2500, |call, carrier_rtp, far_rtp| {
        let a = call.relay("a_relay");
        let b = call.relay("b_relay");
        // RTP from a source port the carrier's SDP does not name (NAT
        // would do this): still relayed, and nothing is learned from it.
        let stray = socket(CARRIER_IP);
        let p = rtp(0, true, 1, &[0xd5; 160]);
        stray.send_to(&p, a).unwrap();
        let (got, _) = recv(far_rtp).expect("RTP from an unexpected source is relayed");
        assert_eq!(got, p);
        // The answer goes to the carrier's SDP address, not to the source.
        let back = rtp(0, false, 7, &[0x55; 160]);
        far_rtp.send_to(&back, b).unwrap();
        let (got, from) = recv(carrier_rtp).expect("RTP to the SDP address");
        assert_eq!((got, from), (back, a));
        stray
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(
            recv(&stray).is_none(),
            "C24: no latching to the packet source"
        );
    });
}

#[test]
fn c23_rfc4733_events_arrive_byte_exact() {
    rtp_call(2500, |call, carrier_rtp, far_rtp| {
        let a = call.relay("a_relay");
        // Digit 5: start (marker), an update, three end packets (RFC 4733
        // section 2.5.1.4), each 4 bytes of event payload.
        let mut sent = Vec::new();
        for (i, (end, duration)) in [
            (false, 160u16),
            (false, 320),
            (true, 480),
            (true, 480),
            (true, 480),
        ]
        .into_iter()
        .enumerate()
        {
            let mut payload = vec![5u8, if end { 0x80 | 10 } else { 10 }];
            payload.extend_from_slice(&duration.to_be_bytes());
            let p = rtp(101, i == 0, 200 + i as u16, &payload);
            carrier_rtp.send_to(&p, a).unwrap();
            sent.push(p);
        }
        for p in &sent {
            let (got, _) = recv(far_rtp).expect("telephone-event relayed");
            assert_eq!(&got, p, "C23: RFC 4733 packets pass byte for byte");
        }
        // Event 16 is outside 0-15 (C23): dropped; audio after it passes.
        let mut payload = vec![16u8, 10];
        payload.extend_from_slice(&160u16.to_be_bytes());
        carrier_rtp
            .send_to(&rtp(101, true, 300, &payload), a)
            .unwrap();
        let audio = rtp(0, false, 301, &[0xd5; 160]);
        carrier_rtp.send_to(&audio, a).unwrap();
        let (got, _) = recv(far_rtp).expect("audio after the refused event");
        assert_eq!(got, audio, "C23: event 16 is not relayed");
    });
}

#[test]
fn c10_183_early_media_flows() {
    let carrier_rtp = socket(CARRIER_IP);
    let far_rtp = socket(FAR_IP);
    // The far end sends 183 with SDP, waits, then answers: the RTP goes
    // both ways during the 183, before the 200.
    let prov = r#"<recv response="183">
    <action>
      <ereg regexp="m=audio ([0-9]+) " search_in="body" check_it="true" assign_to="em,eport"/>
      <ereg regexp="c=IN IP4 ([0-9.]+)" search_in="body" check_it="true" assign_to="ec,eip"/>
      <exec command="echo [$eip]:[$eport] > @DIR@/early.tmp ; mv @DIR@/early.tmp @DIR@/early"/>
    </action>
  </recv>
  <Reference variables="em,ec"/>"#;
    let answer_check = r#"<exec command="touch @DIR@/answered"/>"#;
    let far_steps = format!(
        "{}\n  <pause milliseconds=\"2500\"/>\n  {}",
        far_sdp_response("183 Session Progress", &audio_answer(port(&far_rtp))),
        far_answers_then_bye(&audio_answer(port(&far_rtp)))
    );
    let call = Call::start(Spec {
        offer: audio_offer(port(&carrier_rtp)),
        prov,
        answer_check,
        after: sipp_carrier_bye(DID, 300),
        offer_check: "",
        far_steps,
        media_config: "",
        sipp_extra: Vec::new(),
    });
    let early = call.relay("early");
    let b = call.relay("b_relay");
    // Early media from the far end (ringback, announcements) reaches the
    // carrier, and the carrier's RTP reaches the far end.
    let p = rtp(0, true, 1, &[0x55; 160]);
    far_rtp.send_to(&p, b).unwrap();
    let (got, from) = recv(&carrier_rtp).expect("early media far end -> carrier");
    assert_eq!((got, from), (p, early));
    let q = rtp(0, true, 1, &[0xd5; 160]);
    carrier_rtp.send_to(&q, early).unwrap();
    let (got, from) = recv(&far_rtp).expect("early media carrier -> far end");
    assert_eq!((got, from), (q, b));
    assert!(!call.exists("answered"), "the media flowed before the 200");
    let a = call.relay("a_relay");
    assert_eq!(a, early, "the 200 keeps the early media's relay address");
    call.finish();
}

#[test]
fn c21_codecs_filtered_opus_first() {
    // The carrier offers Opus last, among codecs C21 does not allow.
    let offer = "m=audio 40000 RTP/AVP 0 3 8 97 9 18 96 101
a=rtpmap:0 PCMU/8000
a=rtpmap:3 GSM/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
a=rtpmap:9 G722/8000
a=rtpmap:18 G729/8000
a=rtpmap:96 opus/48000/2
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15"
        .to_owned();
    // The far end receives only the allowed codecs, Opus first.
    let check = r#"<ereg regexp="m=audio [0-9]+ RTP/AVP 96 0 8 9 18 101[[:space:]]" search_in="body" check_it="true" assign_to="mline"/>
      <ereg regexp="GSM|iLBC" search_in="body" check_it_inverse="true" assign_to="banned"/>"#;
    let far_steps = format!(
        "{}\n  <Reference variables=\"mline,banned\"/>",
        far_answers_then_bye(&audio_answer(42000))
    );
    Call::start(Spec {
        offer,
        prov: "",
        answer_check: "",
        after: sipp_carrier_bye(DID, 200),
        offer_check: check,
        far_steps,
        media_config: "",
        sipp_extra: Vec::new(),
    })
    .finish();
}

#[test]
fn c22_t38_stream_refused_call_proceeds_on_audio() {
    let offer = format!(
        "{}
m=image 40100 udptl t38
a=T38FaxVersion:0
a=T38FaxRateManagement:transferredTCF",
        audio_offer(40000)
    );
    // The far end is offered T.38 at port 0 and answers it so; the carrier
    // gets an answer with the audio anchored and the T.38 stream at 0.
    let offer_check = r#"<ereg regexp="m=image 0 udptl t38" search_in="body" check_it="true" assign_to="t38off"/>"#;
    let answer = format!("{}\nm=image 0 udptl t38", audio_answer(42000));
    let far_steps = format!(
        "{}\n  <Reference variables=\"t38off\"/>",
        far_answers_then_bye(&answer)
    );
    let answer_check = r#"<ereg regexp="m=image 0 udptl t38" search_in="body" check_it="true" assign_to="t38a"/>
      <ereg regexp="m=audio [1-9][0-9]* RTP/AVP 0 101" search_in="body" check_it="true" assign_to="audio"/>"#;
    Call::start(Spec {
        offer,
        prov: "",
        answer_check,
        after: format!(
            "{}\n  <Reference variables=\"t38a,audio\"/>",
            sipp_carrier_bye(DID, 200)
        ),
        offer_check,
        far_steps,
        media_config: "",
        sipp_extra: Vec::new(),
    })
    .finish();
}

/// 1 s of PCMU (a 400 Hz tone) in a WAV file: SIPp's `rtp_stream` skips
/// the RIFF header and sends the bytes 160 to a packet.
fn pcmu_wav(path: &Path) {
    fn ulaw(sample: i16) -> u8 {
        const BIAS: i32 = 0x84;
        let mut s = i32::from(sample);
        let sign = if s < 0 {
            s = -s;
            0x80
        } else {
            0
        };
        s = (s + BIAS).min(0x7fff);
        let exponent = (0..8).rev().find(|e| s & (0x80 << e) != 0).unwrap_or(0);
        let mantissa = (s >> (exponent + 3)) & 0x0f;
        !(sign | (exponent << 4) | mantissa) as u8
    }
    let data: Vec<u8> = (0..8000)
        .map(|n| {
            let t = f64::from(n) / 8000.0;
            ulaw(((t * 400.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
        })
        .collect();
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(50 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&18u32.to_le_bytes());
    w.extend_from_slice(&7u16.to_le_bytes()); // mu-law
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8u16.to_le_bytes());
    w.extend_from_slice(&0u16.to_le_bytes());
    w.extend_from_slice(b"fact");
    w.extend_from_slice(&4u32.to_le_bytes());
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    std::fs::write(path, w).unwrap();
}

#[test]
fn c25_sipp_rtp_stream_reaches_the_far_end_through_the_relay() {
    let wav_dir = tempfile::tempdir().unwrap();
    let wav = wav_dir.path().join("tone.wav");
    pcmu_wav(&wav);
    let far_rtp = socket(FAR_IP);
    // SIPp sends the file as RTP (PCMU, 50 packets of 160 bytes) to the
    // relay address in the 200, from the port its offer named.
    let offer = "m=audio [rtpstream_audio_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15"
        .to_owned();
    let after = format!(
        r#"<nop><action><exec rtp_stream="{},1,0"/></action></nop>
  {}"#,
        wav.display(),
        sipp_carrier_bye(DID, 2000)
    );
    let call = Call::start(Spec {
        offer,
        prov: "",
        answer_check: "",
        after,
        offer_check: "",
        far_steps: far_answers_then_bye(&audio_answer(port(&far_rtp))),
        media_config: "",
        sipp_extra: vec!["-mp".into(), free_port().to_string()],
    });
    let b = call.relay("b_relay");
    let mut packets = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    far_rtp
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while packets < 40 && Instant::now() < deadline {
        if let Some((p, from)) = recv(&far_rtp) {
            assert_eq!(from, b, "C25: from the relay port in the far end's SDP");
            assert_eq!((p[0] >> 6, p[1] & 0x7f, p.len()), (2, 0, 12 + 160));
            packets += 1;
        }
    }
    assert!(
        packets >= 40,
        "only {packets} RTP packets of SIPp's stream arrived"
    );
    call.finish();
}

#[test]
fn rtp_inactivity_guard_hangs_up_a_silent_call() {
    // Issue 3 item 2: no RTP for 1 s on an answered call: BYE both ways.
    let far_steps = format!(
        "{}\n  <recv request=\"ACK\" crlf=\"true\"/>\n  {}",
        far_sdp_response("200 OK", &audio_answer(42000)),
        sipp_takes_bye()
    );
    Call::start(Spec {
        offer: audio_offer(40000),
        prov: "",
        answer_check: "",
        after: sipp_takes_bye(),
        offer_check: "",
        far_steps,
        media_config: "inactivity_timeout_secs = 1",
        sipp_extra: Vec::new(),
    })
    .finish();
}

/// The carrier's call that ends before an answer: `fin` is what follows
/// the provisional responses (CANCEL, or a final rejection).
fn unanswered_call(far_steps: &str, prov: &str, fin: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let far_file = scenario_from_template(
        dir.path(),
        "media_far.xml.tmpl",
        &[("OFFER_CHECK", ""), ("STEPS", far_steps), ("DIR", &d)],
    );
    let far = SippServer::start(&far_file, FAR_IP);
    // No pool: the relay closes a released session's sockets, so a port
    // that can be bound again shows the session was released.
    let locus = locus(far.addr, "pool_pairs = 0");
    let invite = sipp_carrier_invite(DID);
    let carrier_file = scenario_from_template(
        dir.path(),
        "carrier_call.xml.tmpl",
        &[
            ("INVITE_LINE", &invite),
            ("INVITE_HEADERS", ""),
            ("CONTENT_LENGTH", "Content-Length"),
            ("MPORT", "40000"),
            ("PROV", prov),
            ("FINAL", fin),
        ],
    );
    let c = sipp_from(CARRIER_IP, &carrier_file, locus.addr("udp"), "u1", &[]);
    let f = far.finish();
    assert_carrier_and_far_end_succeeded(&c, &f);
    let b = written_relay(dir.path(), "b_relay", Duration::from_secs(5))
        .expect("the far end never wrote the relay address");
    // The relay session was released when the call ended unanswered.
    assert!(freed(b), "relay port {b} still bound after the call ended");
}

#[test]
fn cancel_releases_the_relay_session() {
    let far = &sipp_rings_then_cancelled("Contact: <sip:far@[local_ip]:[local_port]>");
    let fin = sipp_carrier_cancelled(DID);
    unanswered_call(far, r#"<recv response="180"/>"#, &fin);
}

#[test]
fn far_end_rejection_releases_the_relay_session() {
    let far = &sipp_rejects("486 Busy Here", "");
    unanswered_call(far, "", &sipp_carrier_rejected(DID, 486));
}
