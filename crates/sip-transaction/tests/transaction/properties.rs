//! Random sequences of inputs, TU calls and time jumps never panic, keep the
//! machines' invariants, and every machine terminates within a bounded
//! number of timeouts once the TU does its part.

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;
use sip_transaction::{
    Action, ClientInvite, ClientInviteState, ClientNonInvite, Kind, ServerInvite,
    ServerInviteState, ServerNonInvite, ServerNonInviteState, TimerConfig, Transport,
};

use crate::util::*;

#[derive(Debug, Clone)]
enum Op {
    Response(u16),
    Request(Kind),
    Send(u16),
    SetAck,
    CancelSent,
    TransportError,
    Advance(u64),
    ToDeadline,
}

fn op() -> impl Strategy<Value = Op> {
    let status = prop_oneof![
        Just(0u16),
        Just(99u16),
        100u16..200,
        200u16..300,
        300u16..700,
        Just(700u16),
        Just(408u16),
        Just(100u16),
    ];
    let kind = prop_oneof![
        Just(Kind::Invite),
        Just(Kind::Ack),
        Just(Kind::Cancel),
        Just(Kind::Other)
    ];
    prop_oneof![
        status.clone().prop_map(Op::Response),
        kind.prop_map(Op::Request),
        status.prop_map(Op::Send),
        Just(Op::SetAck),
        Just(Op::CancelSent),
        Just(Op::TransportError),
        (0u64..40_000).prop_map(Op::Advance),
        Just(Op::ToDeadline),
    ]
}

enum Any {
    Ci(ClientInvite),
    Cn(ClientNonInvite),
    Si(ServerInvite),
    Sn(ServerNonInvite),
}

impl Any {
    fn new(which: u8, now: Instant, transport: Transport, config: &TimerConfig) -> Self {
        let m = Bytes::from_static(b"msg");
        match which % 4 {
            0 => Any::Ci(ClientInvite::new(now, m, transport, config)),
            1 => Any::Cn(ClientNonInvite::new(now, m, transport, config)),
            2 => Any::Si(ServerInvite::new(now, m, transport, config)),
            _ => Any::Sn(ServerNonInvite::new(now, transport, config)),
        }
    }

    fn m(&mut self) -> &mut dyn Machine {
        match self {
            Any::Ci(m) => m,
            Any::Cn(m) => m,
            Any::Si(m) => m,
            Any::Sn(m) => m,
        }
    }

    /// Applies one op; results are ignored (errors are allowed, panics not).
    fn apply(&mut self, now: Instant, op: &Op) {
        let m = Bytes::from_static(b"msg");
        let _ = match (self, op) {
            (Any::Ci(x), Op::Response(s)) => x.handle_response(now, *s, m),
            (Any::Cn(x), Op::Response(s)) => x.handle_response(now, *s, m),
            (Any::Si(x), Op::Request(k)) => x.handle_request(now, *k, m),
            (Any::Sn(x), Op::Request(k)) => x.handle_request(now, *k, m),
            (Any::Si(x), Op::Send(s)) => x.send_response(now, *s, m),
            (Any::Sn(x), Op::Send(s)) => x.send_response(now, *s, m),
            (Any::Ci(x), Op::SetAck) => x.set_ack(now, m),
            (Any::Ci(x), Op::CancelSent) => x.cancel_sent(now),
            (Any::Ci(x), Op::TransportError) => x.handle_transport_error(now),
            (Any::Cn(x), Op::TransportError) => x.handle_transport_error(now),
            (Any::Si(x), Op::TransportError) => x.handle_transport_error(now),
            (Any::Sn(x), Op::TransportError) => x.handle_transport_error(now),
            _ => Ok(()),
        };
    }

    /// What the TU must do for the machine to end by timers alone: a
    /// CANCEL for a ringing INVITE, a final response for a server.
    fn tu_finishes(&mut self, now: Instant) {
        let m = Bytes::from_static(b"msg");
        match self {
            Any::Ci(x) if x.state() == ClientInviteState::Proceeding => x.cancel_sent(now).unwrap(),
            Any::Ci(x) if x.state() == ClientInviteState::Completed => {
                let _ = x.set_ack(now, m);
            }
            Any::Si(x) if x.state() == ServerInviteState::Proceeding => {
                x.send_response(now, 486, m).unwrap()
            }
            Any::Sn(x) if x.state() != ServerNonInviteState::Completed && !x.is_terminated() => {
                x.send_response(now, 200, m).unwrap()
            }
            _ => {}
        }
    }
}

/// Checks what every drained batch must satisfy and tracks termination.
#[derive(Default)]
struct Checker {
    terminated_seen: bool,
}

impl Checker {
    fn drain(&mut self, any: &mut Any) {
        let m = any.m();
        while let Some(action) = m.poll_action() {
            assert!(!self.terminated_seen, "action {action:?} after Terminated");
            if action == Action::Terminated {
                self.terminated_seen = true;
            }
        }
        assert_eq!(self.terminated_seen, m.is_terminated());
        if m.is_terminated() {
            assert_eq!(m.poll_timeout(), None);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rfc3261_17_random_inputs_never_panic_and_always_terminate(
        which in 0u8..4,
        reliable in any::<bool>(),
        t1 in prop_oneof![Just(500u64), 1u64..2000],
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let t0 = origin();
        let config = TimerConfig { t1: ms(t1), ..cfg() };
        let transport = if reliable { Transport::Reliable } else { Transport::Unreliable };
        let mut any = Any::new(which, t0, transport, &config);
        let mut checker = Checker::default();
        let mut now = t0;
        for op in &ops {
            match op {
                Op::Advance(d) => {
                    now += ms(*d);
                    any.m().handle_timeout(now);
                }
                Op::ToDeadline => {
                    if let Some(at) = any.m().poll_timeout() {
                        now = now.max(at);
                        any.m().handle_timeout(now);
                    }
                }
                op => any.apply(now, op),
            }
            checker.drain(&mut any);
            if let Some(at) = any.m().poll_timeout() {
                // A deadline is never more than 64*T1 + T4 away.
                prop_assert!(at <= now.max(t0) + config.sixty_four_t1() + config.timer_d(transport) + config.t4);
            }
        }
        any.tu_finishes(now);
        checker.drain(&mut any);
        // Timer-driven from here: bounded number of wake-ups (the most is
        // Timer E or G: 10 retransmissions, then the terminating timer).
        let mut wakeups = 0;
        while let Some(at) = any.m().poll_timeout() {
            now = now.max(at);
            any.m().handle_timeout(now);
            checker.drain(&mut any);
            wakeups += 1;
            prop_assert!(wakeups <= 80, "too many wake-ups");
        }
        prop_assert!(any.m().is_terminated());
        prop_assert!(checker.terminated_seen);
    }
}

#[derive(Debug, Clone)]
enum TableOp {
    Start(u8, u8, bool),
    Request(u8, Kind),
    Response(u8, u16, Kind),
    Send(usize, u16),
    SetAck(usize),
    CancelSent(usize),
    TransportError(usize),
    Advance(u64),
    ToDeadline,
}

fn table_op() -> impl Strategy<Value = TableOp> {
    let kind = prop_oneof![
        Just(Kind::Invite),
        Just(Kind::Ack),
        Just(Kind::Cancel),
        Just(Kind::Other)
    ];
    let status = prop_oneof![100u16..200, 200u16..300, 300u16..700, Just(0u16)];
    prop_oneof![
        (0u8..4, 0u8..3, any::<bool>()).prop_map(|(w, k, r)| TableOp::Start(w, k, r)),
        (0u8..3, kind.clone()).prop_map(|(k, kind)| TableOp::Request(k, kind)),
        (0u8..3, status.clone(), kind).prop_map(|(k, s, kind)| TableOp::Response(k, s, kind)),
        (0usize..8, status).prop_map(|(i, s)| TableOp::Send(i, s)),
        (0usize..8).prop_map(TableOp::SetAck),
        (0usize..8).prop_map(TableOp::CancelSent),
        (0usize..8).prop_map(TableOp::TransportError),
        (0u64..40_000).prop_map(TableOp::Advance),
        Just(TableOp::ToDeadline),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn transaction_table_random_inputs_never_panic_and_always_empty_out(
        ops in proptest::collection::vec(table_op(), 0..60),
    ) {
        use sip_transaction::{TransactionKey, TransactionState, TransactionTable};
        let t0 = origin();
        let mut table = TransactionTable::new(cfg());
        let mut ids = Vec::new();
        let mut terminated = std::collections::HashSet::new();
        let mut now = t0;
        let m = || Bytes::from_static(b"m");
        let branch = |k: u8| format!("z9hG4bK{k}");
        for op in &ops {
            match op {
                TableOp::Start(which, k, reliable) => {
                    let t = if *reliable { Transport::Reliable } else { Transport::Unreliable };
                    let b = branch(*k);
                    let r = match which {
                        0 => table.start_client_invite(now, TransactionKey::client(&b, Kind::Invite), m(), t),
                        1 => table.start_client_non_invite(now, TransactionKey::client(&b, Kind::Other), m(), t),
                        2 => table.start_server_invite(now, TransactionKey::server(&b, "h", Kind::Invite), m(), t),
                        _ => table.start_server_non_invite(now, TransactionKey::server(&b, "h", Kind::Other), t),
                    };
                    if let Ok(id) = r {
                        ids.push(id);
                    }
                }
                TableOp::Request(k, kind) => {
                    let _ = table.handle_request(now, &TransactionKey::server(&branch(*k), "h", *kind), *kind, m());
                }
                TableOp::Response(k, s, kind) => {
                    let _ = table.handle_response(now, &TransactionKey::client(&branch(*k), *kind), *s, m());
                }
                TableOp::Send(i, s) => if let Some(id) = ids.get(*i) {
                    let _ = table.send_response(now, *id, *s, m());
                },
                TableOp::SetAck(i) => if let Some(id) = ids.get(*i) {
                    let _ = table.set_ack(now, *id, m());
                },
                TableOp::CancelSent(i) => if let Some(id) = ids.get(*i) {
                    let _ = table.cancel_sent(now, *id);
                },
                TableOp::TransportError(i) => if let Some(id) = ids.get(*i) {
                    let _ = table.handle_transport_error(now, *id);
                },
                TableOp::Advance(d) => {
                    now += ms(*d);
                    table.handle_timeout(now);
                }
                TableOp::ToDeadline => if let Some(at) = table.poll_timeout() {
                    now = now.max(at);
                    table.handle_timeout(now);
                },
            }
            while let Some((id, action)) = table.poll_action() {
                prop_assert!(!terminated.contains(&id), "action after Terminated");
                if action == Action::Terminated {
                    terminated.insert(id);
                    prop_assert!(table.state(id).is_none());
                }
            }
            prop_assert_eq!(table.len() + terminated.len(), ids.len());
        }
        // The TU does its part for every live transaction, then only time runs.
        for id in &ids {
            let _ = match table.state(*id) {
                Some(TransactionState::ClientInvite(ClientInviteState::Proceeding)) => table.cancel_sent(now, *id),
                Some(TransactionState::ClientInvite(ClientInviteState::Completed)) => table.set_ack(now, *id, m()),
                Some(TransactionState::ServerInvite(ServerInviteState::Proceeding)) => table.send_response(now, *id, 486, m()),
                Some(TransactionState::ServerNonInvite(ServerNonInviteState::Trying | ServerNonInviteState::Proceeding)) => {
                    table.send_response(now, *id, 200, m())
                }
                _ => Ok(()),
            };
        }
        let mut wakeups = 0;
        loop {
            while let Some((id, action)) = table.poll_action() {
                prop_assert!(!terminated.contains(&id), "action after Terminated");
                if action == Action::Terminated {
                    terminated.insert(id);
                }
            }
            let Some(at) = table.poll_timeout() else { break };
            now = now.max(at);
            table.handle_timeout(now);
            wakeups += 1;
            prop_assert!(wakeups <= 80 * 8);
        }
        prop_assert!(table.is_empty());
        prop_assert_eq!(table.armed_timers(), 0);
        prop_assert_eq!(terminated.len(), ids.len());
    }
}
