//! RFC 3261 section 17.1.2: the non-INVITE client transaction.

use sip_transaction::{Action, ClientNonInvite, ClientNonInviteState, Error, Timer, Transport};

use crate::util::*;

#[test]
fn rfc3261_17_1_2_2_timer_e_doubles_capped_at_t2_until_timer_f() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("OPTIONS"), Transport::Unreliable, &cfg());
    assert_eq!(drain(&mut tx), vec![Action::Transmit(b("OPTIONS"))]);
    let log = run(&mut tx, t0, 100);
    // Intervals 500 ms, 1 s, 2 s, then T2 = 4 s until Timer F = 64*T1.
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(
        tu_events(&log),
        vec![
            (32000, Action::Timeout(Timer::F)),
            (32000, Action::Terminated)
        ]
    );
    assert!(log.iter().all(|(_, a)| match a {
        Action::Transmit(m) => m == &b("OPTIONS"),
        _ => true,
    }));
}

#[test]
fn rfc3261_17_1_2_2_timer_e_is_t2_in_proceeding() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("BYE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    let mut log = run(&mut tx, t0, 1); // 500 ms
    tx.handle_response(t0 + ms(600), 100, b("100")).unwrap();
    assert_eq!(tx.state(), ClientNonInviteState::Proceeding);
    assert_eq!(
        drain(&mut tx),
        vec![Action::Response {
            status: 100,
            message: b("100")
        }]
    );
    log.extend(run(&mut tx, t0, 100));
    // The E already armed (1 s interval) fires at 1.5 s, then every T2.
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
    );
    assert_eq!(tu_events(&log)[0], (32000, Action::Timeout(Timer::F)));
}

#[test]
fn rfc3261_17_1_2_2_no_timer_e_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("REGISTER"), Transport::Reliable, &cfg());
    drain(&mut tx);
    let log = run(&mut tx, t0, 100);
    assert_eq!(transmit_times(&log), Vec::<u128>::new());
    assert_eq!(
        tu_events(&log),
        vec![
            (32000, Action::Timeout(Timer::F)),
            (32000, Action::Terminated)
        ]
    );
}

#[test]
fn rfc3261_17_1_2_2_timer_k_absorbs_final_response_retransmissions() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("OPTIONS"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(1000), 200, b("200")).unwrap();
    assert_eq!(tx.state(), ClientNonInviteState::Completed);
    assert_eq!(
        drain(&mut tx),
        vec![Action::Response {
            status: 200,
            message: b("200")
        }]
    );
    for status in [200, 200, 100, 500] {
        tx.handle_response(t0 + ms(2000), status, b("again"))
            .unwrap();
        assert_eq!(drain(&mut tx), vec![]);
    }
    // Timer K = T4 after the final response; no retransmission meanwhile.
    let log = run(&mut tx, t0, 10);
    assert_eq!(log, vec![(ms(6000), Action::Terminated)]);
}

#[test]
fn rfc3261_17_1_2_2_timer_k_is_zero_over_reliable_transport() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("OPTIONS"), Transport::Reliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(10), 404, b("404")).unwrap();
    drain(&mut tx);
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(10)));
    let log = run(&mut tx, t0, 10);
    assert_eq!(tu_events(&log), vec![(10, Action::Terminated)]);
}

#[test]
fn rfc3261_17_1_2_2_provisionals_pass_to_tu_and_final_ends_retransmissions() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("OPTIONS"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(10), 100, b("100")).unwrap();
    tx.handle_response(t0 + ms(20), 100, b("100")).unwrap();
    tx.handle_response(t0 + ms(30), 200, b("200")).unwrap();
    assert_eq!(drain(&mut tx).len(), 3);
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(30) + ms(5000)));
}

#[test]
fn rfc3261_17_1_4_transport_error_terminates_non_invite_client() {
    let t0 = origin();
    let mut tx = ClientNonInvite::new(t0, b("OPTIONS"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_transport_error(t0).unwrap();
    assert_eq!(
        drain(&mut tx),
        vec![Action::TransportError, Action::Terminated]
    );
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(
        tx.handle_response(t0, 200, b("200")),
        Err(Error::Terminated)
    );
}

#[test]
fn rfc3261_17_1_2_2_zero_t2_still_terminates() {
    use sip_transaction::TimerConfig;
    let t0 = origin();
    let config = TimerConfig {
        t1: ms(100),
        t2: ms(0),
        ..cfg()
    };
    let mut tx = ClientNonInvite::new(t0, b("OPTIONS"), Transport::Unreliable, &config);
    drain(&mut tx);
    let log = run(&mut tx, t0, 10_000);
    assert!(tx.is_terminated());
    // Retransmissions every 1 ms (the floor) until Timer F at 6.4 s.
    assert_eq!(transmit_times(&log).len(), 6300);
}
