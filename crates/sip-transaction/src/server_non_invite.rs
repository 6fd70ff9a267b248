//! The non-INVITE server transaction (RFC 3261 section 17.2.2, RFC 4320
//! section 4, RFC 6026 section 8.8).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::timer::Timers;
use crate::{check_status, Action, Error, Kind, Timer, TimerConfig, Transport};

/// The state of a [`ServerNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerNonInviteState {
    /// The request was passed to the TU; retransmissions are absorbed.
    Trying,
    /// The TU sent a `100`; retransmissions get it again.
    Proceeding,
    /// The TU sent a final response; retransmissions get it again until
    /// Timer J.
    Completed,
    /// Done: drop the machine.
    Terminated,
}

impl ServerNonInviteState {
    fn name(self) -> &'static str {
        match self {
            ServerNonInviteState::Trying => "Trying",
            ServerNonInviteState::Proceeding => "Proceeding",
            ServerNonInviteState::Completed => "Completed",
            ServerNonInviteState::Terminated => "Terminated",
        }
    }
}

/// A non-INVITE server transaction: RFC 3261 section 17.2.2 (figure 8),
/// with RFC 4320 and RFC 6026 section 8.8:
///
/// ```text
///                               |Request received
///                               |pass to TU
///                               V
///                         +-----------+
///                         | Trying    |-------------+
///                         +-----------+             |200-699 from TU
///                               |                   |send response
///                               |1xx from TU        |
///                               |send response      |
///            Request            V      1xx from TU  |
///            send response+-----------+send response|
///                +--------|           |--------+    |
///                |        | Proceeding|        |    |
///                +------->|           |<-------+    |
///                         +-----------+             |
///                               |200-699 from TU    |
///                               |send response      |
///               Request         V                   |
///               send response+-----------+          |
///                   +--------|           |          |
///                   |        | Completed |<---------+
///                   +------->|           |
///                            +-----------+
///                                  |Timer J fires
///                                  |-
///                                  V
///                            +-----------+
///                            | Terminated|
///                            +-----------+
/// ```
///
/// The figure's "Trnsprt Err / Inform TU" edges to `Terminated` are replaced
/// by RFC 6026 section 8.8: inform the TU and stay.
///
/// RFC 4320 rules enforced on [`send_response`](Self::send_response): no
/// provisional other than 100; no 100 over an unreliable transport before
/// the client's Timer E reached T2 ([`ServerNonInvite::trying_allowed_at`]);
/// never a 408. The machine sends no `100` by itself: a TU that cannot
/// answer before `trying_allowed_at` sends the 100 (RFC 4320 section 4.1).
///
/// # Contract
///
/// Create with [`ServerNonInvite::new`] when a non-INVITE request (not ACK)
/// matched no transaction (the caller keeps the request for the TU); feed
/// retransmissions to [`handle_request`](Self::handle_request), the TU's
/// responses to [`send_response`](Self::send_response); drive
/// [`handle_timeout`](Self::handle_timeout); drain
/// [`poll_action`](Self::poll_action) after each call.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    transport: Transport,
    config: TimerConfig,
    created: Instant,
    last_response: Option<Bytes>,
    timers: Timers<1>,
    actions: VecDeque<Action>,
}

impl ServerNonInvite {
    /// Starts the transaction at `now` for a new non-INVITE request, in
    /// `Trying`. Arms no timer: the TU must answer.
    pub fn new(now: Instant, transport: Transport, config: &TimerConfig) -> Self {
        ServerNonInvite {
            state: ServerNonInviteState::Trying,
            transport,
            config: *config,
            created: now,
            last_response: None,
            timers: Timers::new([Timer::J]),
            actions: VecDeque::with_capacity(1),
        }
    }

    // ---- getters ----

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// `true` once the machine reached `Terminated`.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerNonInviteState::Terminated
    }

    /// The transport reliability the machine was created with.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The earliest time a `100` may be sent (RFC 4320 section 4.1): at
    /// once on reliable transports; on unreliable ones once the client's
    /// Timer E has been reset to T2 (T1 + 2*T1 + 4*T1 ... < T2: 3.5 s with
    /// the default timers). A TU that has not answered by then must send
    /// the 100.
    pub fn trying_allowed_at(&self) -> Instant {
        if self.transport.is_reliable() {
            return self.created;
        }
        let mut at = self.created;
        let mut interval = self.config.t1;
        while interval < self.config.t2 && !interval.is_zero() {
            at += interval;
            interval = interval.saturating_mul(2);
        }
        at
    }

    // ---- input ----

    /// A retransmission of the request arrived: absorbed in `Trying`,
    /// answered with the last response in `Proceeding` and `Completed`.
    /// Errors for INVITE and ACK (they never match a non-INVITE
    /// transaction) and after termination.
    pub fn handle_request(
        &mut self,
        _now: Instant,
        kind: Kind,
        _message: Bytes,
    ) -> Result<(), Error> {
        if self.is_terminated() {
            return Err(Error::Terminated);
        }
        if matches!(kind, Kind::Invite | Kind::Ack) {
            return Err(Error::UnexpectedRequest(kind));
        }
        if let Some(last) = &self.last_response {
            self.actions.push_back(Action::Transmit(last.clone()));
        }
        Ok(())
    }

    /// The TU sends a response: queues [`Action::Transmit`]; a final one
    /// moves to `Completed` and arms Timer J (64*T1 unreliable, zero
    /// reliable). Errors after the final response (RFC 3261 section 17.2.2:
    /// further finals are discarded) and for what RFC 4320 forbids.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        message: Bytes,
    ) -> Result<(), Error> {
        let status = check_status(status)?;
        use ServerNonInviteState::*;
        match self.state {
            Terminated => return Err(Error::Terminated),
            Completed => {
                return Err(Error::ResponseNotAllowed {
                    status,
                    state: self.state.name(),
                });
            }
            Trying | Proceeding => {}
        }
        match status {
            101..=199 | 408 => return Err(Error::ForbiddenByRfc4320 { status }),
            100 if now < self.trying_allowed_at() => {
                return Err(Error::ForbiddenByRfc4320 { status });
            }
            100 => self.state = Proceeding,
            _ => {
                self.state = Completed;
                self.timers
                    .set(Timer::J, now + self.config.timer_j(self.transport));
            }
        }
        self.last_response = Some(message.clone());
        self.actions.push_back(Action::Transmit(message));
        Ok(())
    }

    /// The transport failed to deliver a response (RFC 6026 section 8.8):
    /// queues [`Action::TransportError`]; the machine stays in its state.
    pub fn handle_transport_error(&mut self, _now: Instant) -> Result<(), Error> {
        if self.is_terminated() {
            return Err(Error::Terminated);
        }
        self.actions.push_back(Action::TransportError);
        Ok(())
    }

    /// Processes every timer due at `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.pop_expired(now).is_some() {
            // Timer J.
            self.timers.stop_all();
            self.last_response = None;
            self.state = ServerNonInviteState::Terminated;
            self.actions.push_back(Action::Terminated);
        }
    }

    // ---- output ----

    /// When [`handle_timeout`](Self::handle_timeout) must next be called;
    /// `None` when no timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next action to perform, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}
