//! Calls from registered phones, end to end (DESIGN.md section 3): SIPp
//! phones register with MD5 digest, a caller is challenged with 407 and
//! answers with credentials, the dial plan sends an extension to its
//! binding's source address (phones behind NAT), 480 when the extension
//! is not registered, 404 when it is unknown.

mod common;
mod phone_common;

use common::Locus;
use phone_common::{answering_phone, call, register, Expect};

fn config(data: &std::path::Path) -> String {
    format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:0"]
data_dir = "{}"

[sip.media]
relay = false

[sip.registrar]
algorithms = ["MD5"]

[[sip.users]]
username = "alice"
password = "secret-a"

[[sip.users]]
username = "bob"
password = "secret-b"

[[sip.users]]
username = "carol"
password = "secret-c"
"#,
        data.display()
    )
}

#[test]
fn phone_calls_a_registered_extension_through_the_b2bua() {
    let data = tempfile::tempdir().unwrap();
    let locus = Locus::start(&config(data.path()), 1);
    let addr = locus.addr("udp");
    // Bob answers where he registered from: the INVITE's Request-URI is
    // his contact, sent to his source address.
    let bob = answering_phone(
        addr,
        locus.dir(),
        "127.0.0.7",
        "bob",
        "secret-b",
        r#"<ereg regexp="^INVITE sip:bob@127\.0\.0\.7:[0-9]+" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="alice" search_in="hdr" header="From:" check_it="true" assign_to="from"/>"#,
        "ruri,from",
    );
    register(
        addr,
        "127.0.0.5",
        common::free_udp_port_on("127.0.0.5"),
        "alice",
        "secret-a",
    );
    let run = call(
        addr,
        locus.dir(),
        "127.0.0.5",
        "alice",
        Some("secret-a"),
        "bob",
        Expect::Answered,
    );
    assert!(run.success, "alice's call failed:\n{}", run.log);
    let bob = bob.finish();
    assert!(bob.success, "bob did not get the call:\n{}", bob.log);
}

#[test]
fn phone_call_to_an_unregistered_extension_gets_480_and_to_an_unknown_one_404() {
    let data = tempfile::tempdir().unwrap();
    let locus = Locus::start(&config(data.path()), 1);
    let addr = locus.addr("udp");
    let run = call(
        addr,
        locus.dir(),
        "127.0.0.5",
        "alice",
        Some("secret-a"),
        "carol",
        Expect::Rejected(480),
    );
    assert!(run.success, "no 480 for carol:\n{}", run.log);
    let run = call(
        addr,
        locus.dir(),
        "127.0.0.5",
        "alice",
        Some("secret-a"),
        "nobody",
        Expect::Rejected(404),
    );
    assert!(run.success, "no 404 for an unknown user:\n{}", run.log);
}

#[test]
fn phone_call_with_a_wrong_password_is_challenged_again() {
    let data = tempfile::tempdir().unwrap();
    let locus = Locus::start(&config(data.path()), 1);
    let run = call(
        locus.addr("udp"),
        locus.dir(),
        "127.0.0.5",
        "alice",
        Some("wrong"),
        "bob",
        Expect::Rejected(407),
    );
    assert!(
        run.success,
        "a wrong password was not challenged again:\n{}",
        run.log
    );
}
