//! RFC 6026: the "Accepted" states and Timers L and M.

use sip_transaction::{
    Action, ClientInvite, ClientInviteState, Error, Kind, ServerInvite, ServerInviteState,
    Transport,
};

use crate::util::*;

#[test]
fn rfc6026_8_4_timer_m_client_passes_2xx_retransmissions_to_tu() {
    let t0 = origin();
    for transport in [Transport::Unreliable, Transport::Reliable] {
        let mut tx = ClientInvite::new(t0, b("INVITE"), transport, &cfg());
        drain(&mut tx);
        tx.handle_response(t0 + ms(100), 180, b("180")).unwrap();
        tx.handle_response(t0 + ms(1000), 200, b("200a")).unwrap();
        assert_eq!(tx.state(), ClientInviteState::Accepted);
        // The 2xx goes up; the transaction does not ACK it.
        assert_eq!(
            drain(&mut tx),
            vec![
                Action::Response {
                    status: 180,
                    message: b("180")
                },
                Action::Response {
                    status: 200,
                    message: b("200a")
                },
            ]
        );
        // Retransmissions and 2xx from other forks go up too.
        tx.handle_response(t0 + ms(1500), 200, b("200a")).unwrap();
        tx.handle_response(t0 + ms(1600), 202, b("200b")).unwrap();
        // Anything else is absorbed.
        tx.handle_response(t0 + ms(1700), 183, b("183")).unwrap();
        tx.handle_response(t0 + ms(1800), 486, b("486")).unwrap();
        assert_eq!(
            drain(&mut tx),
            vec![
                Action::Response {
                    status: 200,
                    message: b("200a")
                },
                Action::Response {
                    status: 202,
                    message: b("200b")
                },
            ]
        );
        // Timer M = 64*T1 after entering Accepted, on every transport.
        let log = run(&mut tx, t0, 10);
        assert_eq!(log, vec![(ms(33000), Action::Terminated)], "{transport:?}");
    }
}

#[test]
fn rfc6026_8_4_2xx_in_calling_stops_timer_a_and_timer_b() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(200), 200, b("200")).unwrap();
    drain(&mut tx);
    let log = run(&mut tx, t0, 100);
    assert_eq!(log, vec![(ms(32200), Action::Terminated)]);
}

#[test]
fn rfc6026_8_7_timer_l_server_absorbs_invite_and_passes_ack_up() {
    let t0 = origin();
    for transport in [Transport::Unreliable, Transport::Reliable] {
        let mut tx = ServerInvite::new(t0, b("100"), transport, &cfg());
        tx.send_response(t0 + ms(300), 200, b("200")).unwrap();
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        assert_eq!(drain(&mut tx), vec![Action::Transmit(b("200"))]);
        // INVITE retransmissions are absorbed: not answered, not passed up.
        tx.handle_request(t0 + ms(500), Kind::Invite, b("INVITE"))
            .unwrap();
        assert_eq!(drain(&mut tx), vec![]);
        // The TU retransmits its 2xx through the transaction.
        tx.send_response(t0 + ms(800), 200, b("200")).unwrap();
        assert_eq!(drain(&mut tx), vec![Action::Transmit(b("200"))]);
        // Only 2xx are allowed in Accepted.
        assert_eq!(
            tx.send_response(t0 + ms(900), 180, b("180")),
            Err(Error::ResponseNotAllowed {
                status: 180,
                state: "Accepted"
            })
        );
        assert_eq!(
            tx.send_response(t0 + ms(900), 500, b("500")),
            Err(Error::ResponseNotAllowed {
                status: 500,
                state: "Accepted"
            })
        );
        // ACKs go up (every one of them).
        tx.handle_request(t0 + ms(1000), Kind::Ack, b("ACK"))
            .unwrap();
        tx.handle_request(t0 + ms(1100), Kind::Ack, b("ACK"))
            .unwrap();
        assert_eq!(
            drain(&mut tx),
            vec![Action::Ack(b("ACK")), Action::Ack(b("ACK"))]
        );
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        // Timer L = 64*T1 after the first 2xx, on every transport; the
        // transaction never retransmits the 2xx itself.
        let log = run(&mut tx, t0, 10);
        assert_eq!(log, vec![(ms(32300), Action::Terminated)], "{transport:?}");
    }
}

#[test]
fn rfc6026_8_8_server_invite_transport_error_keeps_state() {
    let t0 = origin();
    let mut tx = ServerInvite::new(t0, b("100"), Transport::Unreliable, &cfg());
    tx.send_response(t0, 200, b("200")).unwrap();
    drain(&mut tx);
    tx.handle_transport_error(t0 + ms(1)).unwrap();
    assert_eq!(drain(&mut tx), vec![Action::TransportError]);
    assert_eq!(tx.state(), ServerInviteState::Accepted);
    // Timers still end it.
    assert_eq!(run(&mut tx, t0, 10), vec![(ms(32000), Action::Terminated)]);
}
