//! RFC 3261 section 17.2.1: the INVITE server transaction (2xx handling is
//! in the RFC 6026 tests).

use sip_transaction::{Action, Error, Kind, ServerInvite, ServerInviteState, Timer, Transport};

use crate::util::*;

#[test]
fn rfc3261_17_2_1_sends_100_trying_after_200_ms_of_tu_silence() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(200)));
    let log = run(&mut tx, t0, 10);
    assert_eq!(log, vec![(ms(200), Action::Transmit(b("100")))]);
    // Proceeding waits for the TU: no timer.
    assert_eq!(tx.poll_timeout(), None);
    // An INVITE retransmission gets the 100 again.
    tx.handle_request(t0 + ms(500), Kind::Invite, b("INVITE"))
        .unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("100"))]);
}

#[test]
fn rfc3261_17_2_1_no_100_trying_when_tu_answers_within_200_ms() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.send_response(t0 + ms(150), 180, b("180")).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("180"))]);
    assert_eq!(tx.poll_timeout(), None);
    // INVITE retransmission in Proceeding: the latest provisional again.
    tx.send_response(t0 + ms(160), 183, b("183")).unwrap();
    tx.handle_request(t0 + ms(500), Kind::Invite, b("INVITE"))
        .unwrap();
    assert_eq!(
        drain(&mut tx),
        vec![Action::Transmit(b("183")), Action::Transmit(b("183"))]
    );
}

#[test]
fn rfc3261_17_2_1_retransmission_before_200_ms_gets_100_trying_at_once() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.handle_request(t0 + ms(50), Kind::Invite, b("INVITE"))
        .unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("100"))]);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_17_2_1_timer_g_doubles_capped_at_t2_until_timer_h() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.send_response(t0, 486, b("486")).unwrap();
    assert_eq!(tx.state(), ServerInviteState::Completed);
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("486"))]);
    let log = run(&mut tx, t0, 100);
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    // Timer H: the ACK never came; the TU learns of the failure.
    assert_eq!(
        tu_events(&log),
        vec![
            (32000, Action::Timeout(Timer::H)),
            (32000, Action::Terminated)
        ]
    );
}

#[test]
fn rfc3261_17_2_1_no_timer_g_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Reliable, &cfg());
    tx.send_response(t0, 500, b("500")).unwrap();
    drain(&mut tx);
    let log = run(&mut tx, t0, 100);
    assert_eq!(
        log,
        vec![
            (ms(32000), Action::Timeout(Timer::H)),
            (ms(32000), Action::Terminated)
        ]
    );
}

#[test]
fn rfc3261_17_2_1_invite_retransmission_in_completed_gets_final_again() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.send_response(t0, 180, b("180")).unwrap();
    tx.send_response(t0 + ms(10), 404, b("404")).unwrap();
    drain(&mut tx);
    tx.handle_request(t0 + ms(20), Kind::Invite, b("INVITE"))
        .unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("404"))]);
}

#[test]
fn rfc3261_17_2_1_ack_confirms_and_timer_i_absorbs_acks() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.send_response(t0, 486, b("486")).unwrap();
    drain(&mut tx);
    let mut log = run(&mut tx, t0, 1); // Timer G at 500 ms
    tx.handle_request(t0 + ms(1000), Kind::Ack, b("ACK"))
        .unwrap();
    assert_eq!(tx.state(), ServerInviteState::Confirmed);
    // The ACK for a non-2xx is not passed up; retransmissions are absorbed.
    tx.handle_request(t0 + ms(1100), Kind::Ack, b("ACK"))
        .unwrap();
    tx.handle_request(t0 + ms(1200), Kind::Invite, b("INVITE"))
        .unwrap();
    assert_eq!(drain(&mut tx), vec![]);
    log.extend(run(&mut tx, t0, 100));
    // Timer G stopped; Timer I = T4 after the ACK.
    assert_eq!(transmit_times(&log), vec![500]);
    assert_eq!(tu_events(&log), vec![(6000, Action::Terminated)]);
}

#[test]
fn rfc3261_17_2_1_timer_i_is_zero_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Reliable, &cfg());
    tx.send_response(t0, 486, b("486")).unwrap();
    tx.handle_request(t0 + ms(40), Kind::Ack, b("ACK")).unwrap();
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(40)));
    drain(&mut tx);
    assert_eq!(run(&mut tx, t0, 10), vec![(ms(40), Action::Terminated)]);
}

#[test]
fn rfc3261_17_2_1_responses_out_of_order_are_errors() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.send_response(t0, 486, b("486")).unwrap();
    drain(&mut tx);
    for status in [180, 200, 486] {
        assert_eq!(
            tx.send_response(t0, status, b("x")),
            Err(Error::ResponseNotAllowed {
                status,
                state: "Completed"
            })
        );
    }
    assert_eq!(
        tx.send_response(t0, 1000, b("x")),
        Err(Error::InvalidStatus(1000))
    );
    assert_eq!(
        tx.handle_request(t0, Kind::Cancel, b("CANCEL")),
        Err(Error::UnexpectedRequest(Kind::Cancel))
    );
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.state(), ServerInviteState::Completed);
    tx.handle_request(t0, Kind::Ack, b("ACK")).unwrap();
    assert_eq!(
        tx.send_response(t0, 486, b("x")),
        Err(Error::ResponseNotAllowed {
            status: 486,
            state: "Confirmed"
        })
    );
    run(&mut tx, t0, 10);
    assert_eq!(tx.send_response(t0, 486, b("x")), Err(Error::Terminated));
    assert_eq!(
        tx.handle_request(t0, Kind::Invite, b("x")),
        Err(Error::Terminated)
    );
}

#[test]
fn rfc3261_17_2_1_ack_in_proceeding_is_absorbed() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.handle_request(t0, Kind::Ack, b("ACK")).unwrap();
    assert_eq!(drain(&mut tx), vec![]);
    assert_eq!(tx.state(), ServerInviteState::Proceeding);
}
