//! RFC 3261 section 9: CANCEL and the INVITE client transaction.

use sip_transaction::{Action, ClientInvite, Error, Timer, Transport};

use crate::util::*;

#[test]
fn rfc3261_9_1_cancel_not_allowed_before_provisional_or_after_final() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    assert!(!tx.can_cancel());
    assert_eq!(
        tx.cancel_sent(t0),
        Err(Error::CancelNotAllowed { state: "Calling" })
    );
    tx.handle_response(t0, 180, b("180")).unwrap();
    assert!(tx.can_cancel());
    tx.handle_response(t0, 487, b("487")).unwrap();
    assert_eq!(
        tx.cancel_sent(t0),
        Err(Error::CancelNotAllowed { state: "Completed" })
    );
}

#[test]
fn rfc3261_9_1_no_final_64_t1_after_cancel_destroys_transaction() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(100), 180, b("180")).unwrap();
    tx.cancel_sent(t0 + ms(5000)).unwrap();
    // A second call does not push the guard back.
    tx.cancel_sent(t0 + ms(6000)).unwrap();
    drain(&mut tx);
    let log = run(&mut tx, t0, 10);
    assert_eq!(
        log,
        vec![
            (ms(37000), Action::Timeout(Timer::Cancel)),
            (ms(37000), Action::Terminated)
        ]
    );
}

#[test]
fn rfc3261_9_1_487_after_cancel_completes_normally() {
    let t0 = origin();
    let mut tx = ClientInvite::new(t0, b("INVITE"), Transport::Unreliable, &cfg());
    drain(&mut tx);
    tx.handle_response(t0 + ms(100), 180, b("180")).unwrap();
    tx.cancel_sent(t0 + ms(200)).unwrap();
    tx.handle_response(t0 + ms(300), 487, b("487")).unwrap();
    tx.set_ack(t0 + ms(300), b("ACK")).unwrap();
    drain(&mut tx);
    // The CANCEL guard is gone: only Timer D remains.
    assert_eq!(run(&mut tx, t0, 10), vec![(ms(32300), Action::Terminated)]);
}
