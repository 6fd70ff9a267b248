//! Blind transfer (REFER, RFC 3515 and RFC 5589) through the B2BUA, end to
//! end with three SIPp processes: the transferee is a carrier on
//! 127.0.0.2 calling +15551230000, the transferor the agent trunk on
//! 127.0.0.6 that answers and REFERs the call to +15551230001, the target
//! the trunk on 127.0.0.7 that number routes to.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    byoc_trunk_routed, scenario_from_template, sip_config_with_carrier, sipp_callee_bye, sipp_from,
    sipp_rejects, sipp_response, sipp_takes_bye, Locus, SippRun, SippServer, SIPP_UAS_TAG,
};

const TRANSFEROR_IP: &str = "127.0.0.6";
const TARGET_IP: &str = "127.0.0.7";
const REFER_TO: &str = "sip:+15551230001@127.0.0.1";

fn locus(transferor: std::net::SocketAddr, target: std::net::SocketAddr) -> Locus {
    let config = sip_config_with_carrier(100, "127.0.0.2")
        + &byoc_trunk_routed("agent", TRANSFEROR_IP, &[transferor], "", "+15551230000")
        + &byoc_trunk_routed("target", TARGET_IP, &[target], "", "+15551230001");
    Locus::start(&config, 1)
}

/// The target answers with its RTP on `port`, holds the call 4 s, then
/// hangs up.
fn answers_then_hangs_up(port: u16) -> String {
    let sdp = format!(
        "Content-Type: application/sdp
Content-Length: [len]

v=0
o=target 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio {port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
"
    );
    format!(
        r#"{}
  <recv request="ACK" crlf="true"/>
  {}"#,
        sipp_response(
            "200 OK",
            SIPP_UAS_TAG,
            "Contact: <sip:target@[local_ip]:[local_port]>",
            &sdp
        ),
        sipp_callee_bye("target", 1, 4000)
    )
}

/// The target is busy.
fn busy() -> String {
    sipp_rejects("486 Busy Here", "")
}

/// The transferor holds the call before its REFER (as phones do): a
/// re-INVITE with `a=sendonly`, answered `a=recvonly` by the transferee.
const HOLDS: &str = r#"<send retrans="500"><![CDATA[
INVITE [$curi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:agent@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To:[$from]
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=agent 1 2 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio 42000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=sendonly
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="held"/>
    </action>
  </recv>
  <send><![CDATA[
ACK [$curi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:agent@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To:[$from]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>
  <Reference variables="held"/>"#;

/// The transferee is held (the relayed hold re-INVITE, answered
/// `a=recvonly`), then taken off hold by Locus once the target answered:
/// a re-INVITE with neither `sendonly` nor `inactive`, answered with its
/// RTP on `port` both ways.
fn held_then_unheld(port: u16) -> String {
    let answer = |direction: &str, version: u32| {
        let sdp = format!(
            "Content-Type: application/sdp
Content-Length: [len]

v=0
o=carrier 53655765 {version} IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio {port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a={direction}
"
        );
        format!(
            "{}\n  <recv request=\"ACK\" crlf=\"true\"/>",
            sipp_response(
                "200 OK",
                "",
                "Contact: <sip:+15550001000@[local_ip]:[local_port]>",
                &sdp
            )
        )
    };
    format!(
        r#"<recv request="INVITE">
    <action>
      <ereg regexp="a=sendonly" search_in="body" check_it="true" assign_to="hold"/>
    </action>
  </recv>
  {}
  <recv request="INVITE">
    <action>
      <ereg regexp="m=audio" search_in="body" check_it="true" assign_to="unhold"/>
      <ereg regexp="a=(sendonly|inactive)" search_in="body" check_it_inverse="true" assign_to="stillheld"/>
    </action>
  </recv>
  {}
  <Reference variables="hold,unhold,stillheld"/>"#,
        answer("recvonly", 2),
        answer("sendrecv", 3)
    )
}

/// The three parties of one transfer, running.
struct Parties {
    dir: tempfile::TempDir,
    transferee: Option<JoinHandle<SippRun>>,
    transferor: Option<SippServer>,
    target: Option<SippServer>,
    _locus: Locus,
}

impl Parties {
    /// Starts the transferor and the target (SIPp servers), Locus, then
    /// the transferee's call (its RTP on `rtp_port`), on a thread.
    fn start(
        hold: bool,
        final_status: &str,
        after: &str,
        target_steps: &str,
        rtp_port: u16,
    ) -> Parties {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let transferor = scenario_from_template(
            dir.path(),
            "transfer_transferor.xml.tmpl",
            &[
                ("TARGET", REFER_TO),
                ("FINAL", final_status),
                ("AFTER", after),
                ("BEFORE", if hold { HOLDS } else { "" }),
                ("REFER_CSEQ", if hold { "2" } else { "1" }),
            ],
        );
        let target = scenario_from_template(
            dir.path(),
            "transfer_target.xml.tmpl",
            &[("STEPS", target_steps), ("DIR", &d)],
        );
        let transferee = scenario_from_template(
            dir.path(),
            "transfer_transferee.xml.tmpl",
            &[
                ("MPORT", &rtp_port.to_string()),
                ("DIR", &d),
                (
                    "MIDDLE",
                    &if hold {
                        held_then_unheld(rtp_port)
                    } else {
                        String::new()
                    },
                ),
            ],
        );
        let transferor = SippServer::start(&transferor, TRANSFEROR_IP);
        let target = SippServer::start(&target, TARGET_IP);
        let locus = locus(transferor.addr, target.addr);
        let to = locus.addr("udp");
        let transferee =
            std::thread::spawn(move || sipp_from("127.0.0.2", &transferee, to, "u1", &[]));
        Parties {
            dir,
            transferee: Some(transferee),
            transferor: Some(transferor),
            target: Some(target),
            _locus: locus,
        }
    }

    /// The relay address a party found in its SDP (`a_relay` for the
    /// transferee, `t_relay` for the target), waiting 10 s at most.
    fn relay(&self, name: &str) -> SocketAddr {
        let path = self.dir.path().join(name);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Ok(a)) = std::fs::read_to_string(&path).map(|t| t.trim().parse()) {
                return a;
            }
            assert!(Instant::now() < deadline, "no {name} written");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the three SIPp runs; asserts they all succeeded.
    fn finish(mut self) -> String {
        let runs = (
            self.transferee.take().unwrap().join().unwrap(),
            self.transferor.take().unwrap().finish(),
            self.target.take().unwrap().finish(),
        );
        let report = format!(
            "transferee ok: {}, transferor ok: {}, target ok: {}\n=== transferee ===\n{}\n=== transferor ===\n{}\n=== target ===\n{}",
            runs.0.success, runs.1.success, runs.2.success, runs.0.log, runs.1.log, runs.2.log
        );
        assert!(
            runs.0.success && runs.1.success && runs.2.success,
            "{report}"
        );
        runs.0.log
    }
}

fn socket(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

/// Sends RTP from `from` to `relay` until one packet reaches `to` (3 s at
/// most): where it came from.
fn rtp_reaches(from: &UdpSocket, relay: SocketAddr, to: &UdpSocket) -> Option<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seq: u16 = 1;
    while Instant::now() < deadline {
        // RTP v2, PCMU, the sequence number, a fixed SSRC, 160 bytes.
        let mut packet = vec![0x80, 0x00];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        packet.extend_from_slice(&0x5151_u32.to_be_bytes());
        packet.extend_from_slice(&[0xff; 160]);
        from.send_to(&packet, relay).unwrap();
        let mut buf = [0u8; 2048];
        if let Ok((n, source)) = to.recv_from(&mut buf) {
            if buf[..n] == packet[..] {
                return Some(source);
            }
        }
        seq = seq.wrapping_add(1);
    }
    None
}

/// A transfer the target answers (its RTP on `target_rtp`'s port; it
/// hangs up after 4 s): the transferor's final NOTIFY says 200 and Locus
/// hangs it up; the transferee's RTP is on `transferee_rtp`'s port.
/// `hold`: the transferor holds the call before its REFER.
fn transfer_the_target_answers(
    hold: bool,
    transferee_rtp: &UdpSocket,
    target_rtp: &UdpSocket,
) -> Parties {
    Parties::start(
        hold,
        "200 OK",
        &sipp_takes_bye(),
        &answers_then_hangs_up(target_rtp.local_addr().unwrap().port()),
        transferee_rtp.local_addr().unwrap().port(),
    )
}

/// The transferee's RTP reaches the target through the relay, coming from
/// the target's relay address, and the target's reaches the transferee
/// from the transferee's (symmetric RTP, C25).
fn assert_rtp_flows_between_transferee_and_target(
    parties: &Parties,
    transferee_rtp: &UdpSocket,
    target_rtp: &UdpSocket,
) {
    let a = parties.relay("a_relay");
    let t = parties.relay("t_relay");
    assert_eq!(
        rtp_reaches(transferee_rtp, a, target_rtp),
        Some(t),
        "the transferee's RTP does not reach the target (symmetric, from {t})"
    );
    assert_eq!(
        rtp_reaches(target_rtp, t, transferee_rtp),
        Some(a),
        "the target's RTP does not reach the transferee (symmetric, from {a})"
    );
}

#[test]
fn refer_blind_transfer_connects_the_transferee_to_the_target() {
    // The transferor sees 202, NOTIFY 100 Trying, NOTIFY 200 OK
    // (terminated) and Locus's BYE; the target gets the INVITE (the
    // caller's number, an offer of the codecs in use); the transferee gets
    // no re-INVITE, and its RTP and the target's now flow through the
    // relay to each other; the target's BYE reaches the transferee.
    let transferee_rtp = socket("127.0.0.2");
    let target_rtp = socket(TARGET_IP);
    let parties = transfer_the_target_answers(false, &transferee_rtp, &target_rtp);
    assert_rtp_flows_between_transferee_and_target(&parties, &transferee_rtp, &target_rtp);
    let transferee_log = parties.finish();
    assert!(
        !transferee_log.contains("INVITE sip:+15550001000"),
        "the transferee got a re-INVITE:\n{transferee_log}"
    );
}

#[test]
fn refer_failed_transfer_is_reported_and_the_call_stays_up() {
    // The target is busy: the final NOTIFY says 486, Locus sends no BYE to
    // the transferor, whose own BYE then reaches the transferee.
    let rtp = socket("127.0.0.2");
    let parties = Parties::start(
        false,
        "486 Busy Here",
        // The call is still the transferor's: it hangs up.
        &sipp_callee_bye("agent", 2, 300),
        &busy(),
        rtp.local_addr().unwrap().port(),
    );
    parties.finish();
}

#[test]
fn refer_after_hold_takes_the_transferee_off_hold_with_the_target() {
    // Phones hold the call before a blind transfer: the transferee was
    // held (a=recvonly), so once the target answers Locus re-INVITEs it
    // with the target's media both ways, and RTP flows again.
    let transferee_rtp = socket("127.0.0.2");
    let target_rtp = socket(TARGET_IP);
    let parties = transfer_the_target_answers(true, &transferee_rtp, &target_rtp);
    assert_rtp_flows_between_transferee_and_target(&parties, &transferee_rtp, &target_rtp);
    parties.finish();
}
