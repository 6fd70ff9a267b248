//! The transaction table: matching (RFC 3261 sections 17.1.3, 17.2.3, 9.2),
//! one clock over many transactions, removal of terminated ones.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use sip_transaction::{
    Action, Error, Kind, Role, Timer, TransactionId, TransactionKey, TransactionTable, Transport,
};

use crate::util::*;

fn drain_table(table: &mut TransactionTable) -> Vec<(TransactionId, Action)> {
    std::iter::from_fn(|| table.poll_action()).collect()
}

#[test]
fn rfc3261_17_2_3_ack_matches_invite_server_transaction() {
    let t0 = origin();
    let mut table = TransactionTable::new(cfg());
    let invite = TransactionKey::server("z9hG4bK1", "pc33.example.com:5060", Kind::Invite);
    let id = table
        .start_server_invite(t0, invite.clone(), b("100"), Transport::Unreliable)
        .unwrap();
    table.send_response(t0, id, 486, b("486")).unwrap();
    let ack = TransactionKey::server("z9hG4bK1", "pc33.example.com:5060", Kind::Ack);
    assert_eq!(ack, invite);
    assert_eq!(
        table.handle_request(t0 + ms(10), &ack, Kind::Ack, b("ACK")),
        Ok(Some(id))
    );
    // Confirmed: Timer I (T4) ends it, not Timer H.
    let mut log = drain_table(&mut table);
    while let Some(at) = table.poll_timeout() {
        table.handle_timeout(at);
        log.extend(drain_table(&mut table));
    }
    assert_eq!(
        log,
        vec![(id, Action::Transmit(b("486"))), (id, Action::Terminated)]
    );
    assert!(table.is_empty());
}

#[test]
fn rfc3261_17_2_3_sent_by_and_method_are_part_of_the_key() {
    let t0 = origin();
    let mut table = TransactionTable::new(cfg());
    let key = TransactionKey::server("z9hG4bK1", "a.example.com", Kind::Other);
    let id = table
        .start_server_non_invite(t0, key, Transport::Unreliable)
        .unwrap();
    // Same branch from another client: a different transaction.
    let other = TransactionKey::server("z9hG4bK1", "b.example.com", Kind::Other);
    assert_eq!(
        table.handle_request(t0, &other, Kind::Other, b("x")),
        Ok(None)
    );
    // Same branch, INVITE: a different transaction.
    let invite = TransactionKey::server("z9hG4bK1", "a.example.com", Kind::Invite);
    assert_eq!(
        table.handle_request(t0, &invite, Kind::Invite, b("x")),
        Ok(None)
    );
    // Branch and host compare case-insensitively.
    let same = TransactionKey::server("Z9HG4BK1", "A.Example.COM", Kind::Other);
    assert_eq!(
        table.handle_request(t0, &same, Kind::Other, b("x")),
        Ok(Some(id))
    );
    assert_eq!(same.role(), Role::Server);
    assert_eq!(same.sent_by(), Some("a.example.com"));
}

#[test]
fn rfc3261_9_2_cancel_is_its_own_transaction_and_names_its_invite() {
    let t0 = origin();
    let mut table = TransactionTable::new(cfg());
    let invite = TransactionKey::server("z9hG4bK7", "ua.example.com", Kind::Invite);
    let inv = table
        .start_server_invite(t0, invite.clone(), b("100"), Transport::Unreliable)
        .unwrap();
    let cancel = TransactionKey::server("z9hG4bK7", "ua.example.com", Kind::Cancel);
    assert_eq!(
        table.handle_request(t0, &cancel, Kind::Cancel, b("CANCEL")),
        Ok(None)
    );
    let can = table
        .start_server_non_invite(t0, cancel.clone(), Transport::Unreliable)
        .unwrap();
    assert_ne!(inv, can);
    assert_eq!(cancel.cancel_target(), Some(invite.clone()));
    assert_eq!(table.id(&cancel.cancel_target().unwrap()), Some(inv));
    assert_eq!(invite.cancel_target(), None);
    // The UAS answers the CANCEL with 200 and the INVITE with 487.
    table.send_response(t0, can, 200, b("200 CANCEL")).unwrap();
    table.send_response(t0, inv, 487, b("487")).unwrap();
    assert_eq!(
        drain_table(&mut table),
        vec![
            (can, Action::Transmit(b("200 CANCEL"))),
            (inv, Action::Transmit(b("487"))),
        ]
    );
}

#[test]
fn rfc3261_17_1_3_response_matches_branch_and_cseq_method() {
    let t0 = origin();
    let mut table = TransactionTable::new(cfg());
    let key = TransactionKey::client("z9hG4bKc1", Kind::Invite);
    let id = table
        .start_client_invite(t0, key.clone(), b("INVITE"), Transport::Reliable)
        .unwrap();
    assert_eq!(key.sent_by(), None);
    // A 200 to a CANCEL with the same branch is not the INVITE's.
    let cancel = TransactionKey::client("z9hG4bKc1", Kind::Cancel);
    assert_eq!(table.handle_response(t0, &cancel, 200, b("200")), Ok(None));
    assert_eq!(table.handle_response(t0, &key, 180, b("180")), Ok(Some(id)));
    assert!(table.can_cancel(id));
    let other = TransactionKey::client("z9hG4bKc2", Kind::Invite);
    assert_eq!(table.handle_response(t0, &other, 180, b("180")), Ok(None));
}

#[test]
fn table_calls_out_of_order_are_errors() {
    let t0 = origin();
    let mut table = TransactionTable::new(cfg());
    let server = TransactionKey::server("z9hG4bK1", "h", Kind::Invite);
    let client = TransactionKey::client("z9hG4bK1", Kind::Other);
    // Role and method must fit the machine.
    let wrong = Err(Error::WrongTransactionType);
    assert_eq!(
        table.start_client_invite(t0, server.clone(), b("x"), Transport::Reliable),
        wrong
    );
    assert_eq!(
        table.start_server_non_invite(t0, server.clone(), Transport::Reliable),
        wrong
    );
    assert_eq!(
        table.start_client_invite(t0, client.clone(), b("x"), Transport::Reliable),
        wrong
    );
    let ack = TransactionKey::client("z9hG4bK1", Kind::Ack);
    assert_eq!(
        table.start_client_non_invite(t0, ack, b("x"), Transport::Reliable),
        wrong
    );
    let s = table
        .start_server_invite(t0, server.clone(), b("100"), Transport::Reliable)
        .unwrap();
    assert_eq!(
        table.start_server_invite(t0, server, b("100"), Transport::Reliable),
        Err(Error::DuplicateKey)
    );
    let c = table
        .start_client_non_invite(t0, client, b("OPTIONS"), Transport::Reliable)
        .unwrap();
    assert_eq!(
        table.send_response(t0, c, 200, b("x")),
        Err(Error::WrongTransactionType)
    );
    assert_eq!(
        table.set_ack(t0, s, b("x")),
        Err(Error::WrongTransactionType)
    );
    assert_eq!(table.cancel_sent(t0, c), Err(Error::WrongTransactionType));
    // A terminated transaction is gone; its id is never reused.
    table.handle_transport_error(t0, c).unwrap();
    assert_eq!(
        table.send_response(t0, c, 200, b("x")),
        Err(Error::UnknownTransaction(c))
    );
    assert_eq!(
        table.handle_transport_error(t0, c),
        Err(Error::UnknownTransaction(c))
    );
    assert_eq!(table.len(), 1);
    assert_eq!(
        drain_table(&mut table),
        vec![
            (c, Action::Transmit(b("OPTIONS"))),
            (c, Action::TransportError),
            (c, Action::Terminated),
        ]
    );
}

/// Starts `n` transactions of four kinds at staggered instants (clock
/// jumping to each start or deadline, whichever is first), records when
/// each terminated, and checks the order and the instants.
#[test]
fn table_10000_transactions_terminate_in_deadline_order() {
    let t0 = origin();
    let config = cfg();
    let mut table = TransactionTable::new(config);
    let n: u64 = 10_000;
    let mut expected: HashMap<TransactionId, Instant> = HashMap::new();
    let mut terminated: Vec<(Instant, TransactionId)> = Vec::new();
    let mut timeouts = 0;
    let mut next_start = 0;
    let mut now = t0;
    loop {
        let start_at = (next_start < n).then(|| t0 + ms(next_start * 3));
        let next = [start_at, table.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else { break };
        assert!(next >= now);
        now = next;
        if start_at == Some(now) {
            let i = next_start;
            next_start += 1;
            let branch = format!("z9hG4bK{i}");
            let (id, end) = match i % 4 {
                // Timer F over TCP: 32 s.
                0 => {
                    let key = TransactionKey::client(&branch, Kind::Other);
                    let id = table.start_client_non_invite(now, key, b("O"), Transport::Reliable);
                    (id.unwrap(), now + ms(32_000))
                }
                // Answered at once over UDP: Timer K, 5 s.
                1 => {
                    let key = TransactionKey::client(&branch, Kind::Other);
                    let id = table
                        .start_client_non_invite(now, key.clone(), b("O"), Transport::Unreliable)
                        .unwrap();
                    table.handle_response(now, &key, 200, b("200")).unwrap();
                    (id, now + ms(5_000))
                }
                // Server answered 2xx: Timer L, 32 s.
                2 => {
                    let key = TransactionKey::server(&branch, "h", Kind::Invite);
                    let id = table
                        .start_server_invite(now, key, b("100"), Transport::Unreliable)
                        .unwrap();
                    table.send_response(now, id, 200, b("200")).unwrap();
                    (id, now + ms(32_000))
                }
                // Rejected INVITE over TCP, ACK set: Timer D is zero.
                _ => {
                    let key = TransactionKey::client(&branch, Kind::Invite);
                    let id = table
                        .start_client_invite(now, key.clone(), b("I"), Transport::Reliable)
                        .unwrap();
                    table.handle_response(now, &key, 486, b("486")).unwrap();
                    table.set_ack(now, id, b("ACK")).unwrap();
                    (id, now)
                }
            };
            expected.insert(id, end);
        }
        table.handle_timeout(now);
        while let Some((id, action)) = table.poll_action() {
            match action {
                Action::Terminated => terminated.push((now, id)),
                Action::Timeout(Timer::F) => timeouts += 1,
                _ => {}
            }
        }
    }
    assert_eq!(terminated.len(), n as usize);
    assert_eq!(timeouts, n / 4);
    for (at, id) in &terminated {
        assert_eq!(expected[id], *at, "{id:?}");
    }
    // Deadline order: instants never decrease; ties by creation order.
    assert!(terminated.windows(2).all(|w| w[0] <= w[1]));
    // Memory is released.
    assert!(table.is_empty());
    assert_eq!(table.armed_timers(), 0);
    assert_eq!(table.poll_timeout(), None);
}

#[test]
fn table_holds_100000_live_transactions_with_one_clock() {
    let t0 = origin();
    let mut table = TransactionTable::new(cfg());
    let n = 100_000u64;
    for i in 0..n {
        let key = TransactionKey::client(&format!("z9hG4bK{i}"), Kind::Other);
        let now = t0 + ms(i % 1000);
        table
            .start_client_non_invite(now, key, Bytes::new(), Transport::Unreliable)
            .unwrap();
    }
    assert_eq!(table.len(), n as usize);
    assert_eq!(table.armed_timers(), n as usize);
    assert_eq!(table.poll_timeout(), Some(t0 + ms(500)));
    while table.poll_action().is_some() {}
    // Every transaction retransmits (Timer E) until Timer F.
    let mut transmits = 0u64;
    let mut timeouts = 0u64;
    while let Some(at) = table.poll_timeout() {
        table.handle_timeout(at);
        while let Some((_, action)) = table.poll_action() {
            match action {
                Action::Transmit(_) => transmits += 1,
                Action::Timeout(Timer::F) => timeouts += 1,
                _ => {}
            }
        }
    }
    assert_eq!(transmits, 10 * n);
    assert_eq!(timeouts, n);
    assert!(table.is_empty());
    assert_eq!(table.armed_timers(), 0);
}
