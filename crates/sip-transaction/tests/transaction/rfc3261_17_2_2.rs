//! RFC 3261 section 17.2.2: the non-INVITE server transaction.

use sip_transaction::{Action, Error, Kind, ServerNonInvite, ServerNonInviteState, Transport};

use crate::util::*;

#[test]
fn rfc3261_17_2_2_trying_absorbs_retransmissions() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Unreliable, &cfg());
    for i in 0..5 {
        tx.handle_request(t0 + ms(500 * i), Kind::Other, b("OPTIONS"))
            .unwrap();
    }
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.state(), ServerNonInviteState::Trying);
}

#[test]
fn rfc3261_17_2_2_timer_j_retransmits_final_for_request_retransmissions() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Unreliable, &cfg());
    tx.send_response(t0 + ms(1000), 200, b("200")).unwrap();
    assert_eq!(tx.state(), ServerNonInviteState::Completed);
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("200"))]);
    tx.handle_request(t0 + ms(1500), Kind::Other, b("OPTIONS"))
        .unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("200"))]);
    // No retransmission of its own; Timer J = 64*T1 after the final.
    let log = run(&mut tx, t0, 10);
    assert_eq!(log, vec![(ms(33000), Action::Terminated)]);
}

#[test]
fn rfc3261_17_2_2_timer_j_is_zero_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Reliable, &cfg());
    tx.send_response(t0 + ms(7), 404, b("404")).unwrap();
    drain(&mut tx);
    assert_eq!(run(&mut tx, t0, 10), vec![(ms(7), Action::Terminated)]);
}

#[test]
fn rfc3261_17_2_2_proceeding_retransmits_latest_provisional() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Reliable, &cfg());
    tx.send_response(t0, 100, b("100")).unwrap();
    assert_eq!(tx.state(), ServerNonInviteState::Proceeding);
    tx.handle_request(t0 + ms(1), Kind::Cancel, b("CANCEL"))
        .unwrap();
    assert_eq!(
        drain(&mut tx),
        vec![Action::Transmit(b("100")), Action::Transmit(b("100"))]
    );
}

#[test]
fn rfc3261_17_2_2_final_after_final_is_discarded_with_error() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Unreliable, &cfg());
    tx.send_response(t0, 200, b("200")).unwrap();
    drain(&mut tx);
    assert_eq!(
        tx.send_response(t0, 500, b("500")),
        Err(Error::ResponseNotAllowed {
            status: 500,
            state: "Completed"
        })
    );
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(
        tx.handle_request(t0, Kind::Invite, b("INVITE")),
        Err(Error::UnexpectedRequest(Kind::Invite))
    );
}

#[test]
fn rfc6026_8_8_transport_error_informs_tu_and_keeps_state() {
    let t0 = origin();
    let mut tx = ServerNonInvite::new(t0, Transport::Unreliable, &cfg());
    tx.send_response(t0, 200, b("200")).unwrap();
    drain(&mut tx);
    tx.handle_transport_error(t0).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::TransportError]);
    assert_eq!(tx.state(), ServerNonInviteState::Completed);
    assert_eq!(run(&mut tx, t0, 10), vec![(ms(32000), Action::Terminated)]);
    assert_eq!(tx.handle_transport_error(t0), Err(Error::Terminated));
}
