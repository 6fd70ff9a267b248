//! Phones for end-to-end tests: SIPp registering with MD5 digest (SIPp
//! computes MD5 only), calling through Locus from the `phone_call.xml.tmpl`
//! template, and answering from `phone_answer.xml.tmpl`.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::common::{free_udp_port_on, scenario, sipp_from, SippRun, SippServer};

/// Template `template` under `tests/sipp` with each `@KEY@` replaced,
/// written as `dir/name` (no shared temporary name: calls may be placed
/// from several threads).
fn fill(dir: &Path, template: &str, name: &str, vars: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(scenario(template)).expect("read template");
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    let target = dir.join(name);
    std::fs::write(&target, text).expect("write scenario");
    target
}

/// Registers `user` (password `password`) from `ip:port` with SIPp (MD5).
pub fn register(locus: SocketAddr, ip: &str, port: u16, user: &str, password: &str) {
    let port = port.to_string();
    let run = sipp_from(
        ip,
        &scenario("register_ok.xml"),
        locus,
        "u1",
        &[
            "-au", user, "-ap", password, "-key", "aor", user, "-key", "expires", "600", "-p",
            &port,
        ],
    );
    assert!(run.success, "{user} could not register:\n{}", run.log);
}

/// A registered phone answering calls on `ip`: registers as `user`, then
/// SIPp answers one call on the same address (`checks`: ereg actions on
/// the INVITE, `refs` the variables they assign, comma-separated).
pub fn answering_phone(
    locus: SocketAddr,
    dir: &Path,
    ip: &str,
    user: &str,
    password: &str,
    checks: &str,
    refs: &str,
) -> SippServer {
    let port = free_udp_port_on(ip);
    register(locus, ip, port, user, password);
    let file = answer_scenario(dir, &format!("answer_{user}.xml"), checks, refs);
    SippServer::start_on(&file, ip, port, &["-m", "1"])
}

/// The answering scenario with `checks` on the INVITE.
pub fn answer_scenario(dir: &Path, name: &str, checks: &str, refs: &str) -> PathBuf {
    let reference = if refs.is_empty() {
        String::new()
    } else {
        format!("<Reference variables=\"{refs}\"/>")
    };
    fill(
        dir,
        "phone_answer.xml.tmpl",
        name,
        &[("INVITE_CHECK", checks), ("REFERENCE", &reference)],
    )
}

const CHALLENGE: &str = r#"<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: "Phone [caller]" <sip:[caller]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[caller]@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
Max-Forwards: 70
From: "Phone [caller]" <sip:[caller]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

]]></send>"#;

/// What the calling phone expects.
pub enum Expect {
    /// 200, then ACK and, after 200 ms, its BYE.
    Answered,
    /// This final status (ACKed).
    Rejected(u16),
}

/// The calling scenario: challenged first (`auth`) or not (emergency).
pub fn call_scenario(dir: &Path, name: &str, auth: bool, expect: Expect) -> PathBuf {
    let cseq: u32 = if auth { 2 } else { 1 };
    let final_ = match expect {
        Expect::Answered => format!(
            r#"<recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: "Phone [caller]" <sip:[caller]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} ACK
Content-Length: 0

]]></send>
  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: "Phone [caller]" <sip:[caller]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {bye} BYE
Content-Length: 0

]]></send>
  <recv response="200"/>"#,
            bye = cseq + 1
        ),
        Expect::Rejected(status) => format!(
            r#"<recv response="{status}"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
Max-Forwards: 70
From: "Phone [caller]" <sip:[caller]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} ACK
Content-Length: 0

]]></send>"#
        ),
    };
    let cseq_s = cseq.to_string();
    fill(
        dir,
        "phone_call.xml.tmpl",
        name,
        &[
            ("CHALLENGE", if auth { CHALLENGE } else { "" }),
            ("CSEQ", &cseq_s),
            ("AUTH", if auth { "\n[authentication]" } else { "" }),
            ("FINAL", &final_),
        ],
    )
}

/// `user` (password `password`, or none for an unchallenged call) calls
/// `dialed` from `ip` through Locus.
pub fn call(
    locus: SocketAddr,
    dir: &Path,
    ip: &str,
    user: &str,
    password: Option<&str>,
    dialed: &str,
    expect: Expect,
) -> SippRun {
    let file = call_scenario(
        dir,
        &format!("call_{user}_{dialed}.xml"),
        password.is_some(),
        expect,
    );
    let mut args = vec!["-key", "caller", user, "-s", dialed];
    if let Some(p) = password {
        args.extend(["-au", user, "-ap", p]);
    }
    sipp_from(ip, &file, locus, "u1", &args)
}
