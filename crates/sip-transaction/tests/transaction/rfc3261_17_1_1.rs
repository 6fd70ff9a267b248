//! RFC 3261 section 17.1.1: the INVITE client transaction.

use sip_transaction::{
    Action, ClientInvite, ClientInviteState, Error, Timer, TimerConfig, Transport,
};

use crate::util::*;

#[test]
fn rfc3261_17_1_1_2_timer_a_doubles_until_timer_b() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("INVITE"))]);
    let log = run(&mut tx, t0, 100);
    // Timer A: T1, 2*T1, 4*T1, ... without cap, until Timer B = 64*T1.
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(
        tu_events(&log),
        vec![
            (32000, Action::Timeout(Timer::B)),
            (32000, Action::Terminated)
        ]
    );
    assert_eq!(tx.state(), ClientInviteState::Terminated);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_17_1_1_2_timer_a_scales_with_t1() {
    let t0 = origin();
    let config = TimerConfig {
        t1: ms(100),
        ..cfg()
    };
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &config);
    drain(&mut tx);
    let log = run(&mut tx, t0, 100);
    assert_eq!(transmit_times(&log), vec![100, 300, 700, 1500, 3100, 6300]);
    assert_eq!(tu_events(&log)[0], (6400, Action::Timeout(Timer::B)));
}

#[test]
fn rfc3261_17_1_1_2_no_timer_a_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Reliable, &cfg());
    assert_eq!(drain(&mut tx).len(), 1);
    let log = run(&mut tx, t0, 100);
    assert_eq!(transmit_times(&log), Vec::<u128>::new());
    assert_eq!(
        tu_events(&log),
        vec![
            (32000, Action::Timeout(Timer::B)),
            (32000, Action::Terminated)
        ]
    );
}

#[test]
fn rfc3261_17_1_1_2_provisional_stops_timer_a_and_timer_b() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    let log = run(&mut tx, t0, 1); // Timer A at 500 ms
    assert_eq!(transmit_times(&log), vec![500]);
    tx.handle_response(t0 + ms(600), 180, b("180")).unwrap();
    assert_eq!(tx.state(), ClientInviteState::Proceeding);
    tx.handle_response(t0 + ms(700), 183, b("183")).unwrap();
    assert_eq!(
        drain(&mut tx),
        vec![
            Action::Response {
                status: 180,
                message: b("180")
            },
            Action::Response {
                status: 183,
                message: b("183")
            },
        ]
    );
    // Proceeding: no retransmission, no Timer B (only the TU's CANCEL ends it).
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_17_1_1_2_final_non2xx_sends_ack_and_timer_d_absorbs_retransmissions() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(100), 180, b("180")).unwrap();
    tx.handle_response(t0 + ms(2000), 486, b("486")).unwrap();
    assert_eq!(tx.state(), ClientInviteState::Completed);
    assert_eq!(
        drain(&mut tx),
        vec![
            Action::Response {
                status: 180,
                message: b("180")
            },
            Action::Response {
                status: 486,
                message: b("486")
            },
            Action::SendAck { status: 486 },
        ]
    );
    tx.set_ack(t0 + ms(2000), b("ACK")).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("ACK"))]);
    // Each retransmitted final response: the same ACK again, nothing to the TU.
    for i in 1..=3 {
        tx.handle_response(t0 + ms(2000 + 500 * i), 486, b("486"))
            .unwrap();
        assert_eq!(drain(&mut tx), vec![Action::Transmit(b("ACK"))]);
    }
    // Other responses are absorbed.
    tx.handle_response(t0 + ms(4000), 200, b("200")).unwrap();
    tx.handle_response(t0 + ms(4000), 180, b("180")).unwrap();
    assert_eq!(drain(&mut tx), vec![]);
    // Timer D: 32 s after entering Completed.
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(34000)));
    let log = run(&mut tx, t0, 10);
    assert_eq!(tu_events(&log), vec![(34000, Action::Terminated)]);
}

#[test]
fn rfc3261_17_1_1_2_timer_d_is_zero_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Reliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(50), 603, b("603")).unwrap();
    drain(&mut tx);
    // The ACK is still sent on reliable transports (RFC 3261 17.1.1.2).
    tx.set_ack(t0 + ms(50), b("ACK")).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("ACK"))]);
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(50)));
    tx.handle_timeout(t0 + ms(50));
    assert_eq!(drain(&mut tx), vec![Action::Terminated]);
}

#[test]
fn rfc3261_17_1_1_2_timer_d_is_at_least_32_seconds() {
    let t0 = origin();
    for (t1, d) in [(100, 32000), (500, 32000), (1000, 64000)] {
        let config = TimerConfig {
            t1: ms(t1),
            ..cfg()
        };
        let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &config);
        tx.handle_response(t0, 404, b("404")).unwrap();
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(d)), "T1 = {t1} ms");
    }
}

#[test]
fn rfc3261_17_1_1_2_final_before_ack_is_set_is_absorbed_without_ack() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0, 486, b("486")).unwrap();
    drain(&mut tx);
    tx.handle_response(t0 + ms(1), 486, b("486")).unwrap();
    assert_eq!(drain(&mut tx), vec![]);
    tx.set_ack(t0 + ms(2), b("ACK")).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("ACK"))]);
}

#[test]
fn rfc3261_17_1_1_3_set_ack_out_of_order_is_an_error() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    assert_eq!(
        tx.set_ack(t0, b("ACK")),
        Err(Error::AckNotExpected { state: "Calling" })
    );
    tx.handle_response(t0, 200, b("200")).unwrap();
    // A 2xx is acknowledged by the TU, never through the transaction.
    assert_eq!(
        tx.set_ack(t0, b("ACK")),
        Err(Error::AckNotExpected { state: "Accepted" })
    );
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    tx.handle_response(t0, 486, b("486")).unwrap();
    tx.set_ack(t0, b("ACK")).unwrap();
    assert_eq!(
        tx.set_ack(t0, b("ACK")),
        Err(Error::AckNotExpected { state: "Completed" })
    );
}

#[test]
fn rfc3261_17_1_4_transport_error_terminates_and_informs_tu() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Reliable, &cfg());
    drain(&mut tx);
    tx.handle_transport_error(t0 + ms(5)).unwrap();
    assert_eq!(
        drain(&mut tx),
        vec![Action::TransportError, Action::Terminated]
    );
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.handle_transport_error(t0), Err(Error::Terminated));
    assert_eq!(
        tx.handle_response(t0, 200, b("200")),
        Err(Error::Terminated)
    );
}

#[test]
fn rfc3261_7_2_invalid_status_codes_are_errors() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Reliable, &cfg());
    assert_eq!(
        tx.handle_response(t0, 99, b("x")),
        Err(Error::InvalidStatus(99))
    );
    assert_eq!(
        tx.handle_response(t0, 700, b("x")),
        Err(Error::InvalidStatus(700))
    );
    assert_eq!(tx.state(), ClientInviteState::Calling);
}
