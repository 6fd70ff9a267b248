//! RFC 4320 section 4: actions addressing non-INVITE transactions.

use sip_transaction::{Action, Error, ServerNonInvite, Transport};

use crate::util::*;

#[test]
fn rfc4320_4_1_non_invite_server_never_sends_100_by_itself() {
    let t0 = origin();
    for transport in [Transport::Unreliable, Transport::Reliable] {
        let mut tx = ServerNonInvite::new(t0, transport, &cfg());
        assert_eq!(tx.poll_timeout(), None);
        tx.handle_timeout(t0 + ms(60_000));
        assert_eq!(drain(&mut tx), vec![]);
    }
}

#[test]
fn rfc4320_4_1_no_provisional_other_than_100() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Reliable, &cfg());
    for status in [101, 180, 183, 199] {
        assert_eq!(
            tx.send_response(t0, status, b("1xx")),
            Err(Error::ForbiddenByRfc4320 { status })
        );
    }
    assert_eq!(drain(&mut tx), vec![]);
}

#[test]
fn rfc4320_4_1_no_100_over_udp_before_timer_e_reaches_t2() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Unreliable, &cfg());
    // Timer E: 500 ms, 1 s, 2 s, then reset to T2 at 3.5 s.
    assert_eq!(tx.trying_allowed_at(), t0 + ms(3500));
    assert_eq!(
        tx.send_response(t0 + ms(3499), 100, b("100")),
        Err(Error::ForbiddenByRfc4320 { status: 100 })
    );
    tx.send_response(t0 + ms(3500), 100, b("100")).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("100"))]);
    // Over a reliable transport a 100 may go at any time.
    let mut tx = ServerNonInvite::new(t0, Transport::Reliable, &cfg());
    assert_eq!(tx.trying_allowed_at(), t0);
    tx.send_response(t0, 100, b("100")).unwrap();
}

#[test]
fn rfc4320_4_2_no_408_to_non_invite() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Unreliable, &cfg());
    assert_eq!(
        tx.send_response(t0 + ms(31_000), 408, b("408")),
        Err(Error::ForbiddenByRfc4320 { status: 408 })
    );
    assert_eq!(drain(&mut tx), vec![]);
    tx.send_response(t0 + ms(31_000), 200, b("200")).unwrap();
}
