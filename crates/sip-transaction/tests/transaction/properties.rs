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
