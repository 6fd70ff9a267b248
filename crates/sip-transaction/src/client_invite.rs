//! The INVITE client transaction (RFC 3261 section 17.1.1, RFC 6026 section
//! 8.4).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::timer::{after, Timers};
use crate::{check_status, Action, Error, Timer, TimerConfig, Transport};

/// The state of a [`ClientInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientInviteState {
    /// INVITE sent, no response yet; Timer A retransmits (unreliable), Timer
    /// B times out.
    Calling,
    /// A provisional response arrived; no retransmissions, no timeout (the
    /// TU ends it with a CANCEL, see [`ClientInvite::cancel_sent`]).
    Proceeding,
    /// A 300-699 final response arrived; the ACK is re-sent for each
    /// retransmission of it until Timer D.
    Completed,
    /// A 2xx arrived (RFC 6026); further 2xx pass to the TU until Timer M.
    Accepted,
    /// Done: drop the machine.
    Terminated,
}

impl ClientInviteState {
    fn name(self) -> &'static str {
        match self {
            ClientInviteState::Calling => "Calling",
            ClientInviteState::Proceeding => "Proceeding",
            ClientInviteState::Completed => "Completed",
            ClientInviteState::Accepted => "Accepted",
            ClientInviteState::Terminated => "Terminated",
        }
    }
}

/// An INVITE client transaction: RFC 3261 section 17.1.1 as corrected by
/// RFC 6026 (figure 5 of RFC 6026):
///
/// ```text
///                                  |INVITE from TU
///                Timer A fires     |INVITE sent      Timer B fires
///                Reset A,          V                 or Transport Err.
///                INVITE sent +-----------+           inform TU
///                  +---------|           |--------------------------+
///                  |         |  Calling  |                          |
///                  +-------->|           |-----------+              |
/// 300-699                    +-----------+ 2xx       |              |
/// ACK sent                      |  |       2xx to TU |              |
/// resp. to TU                   |  |1xx              |              |
/// +-----------------------------+  |1xx to TU        |              |
/// |                                |                 |              |
/// |                1xx             V                 |              |
/// |                1xx to TU +-----------+           |              |
/// |                +---------|           |           |              |
/// |                |         |Proceeding |           |              |
/// |                +-------->|           |           |              |
/// |                          +-----------+ 2xx       |              |
/// |         300-699             |    |     2xx to TU |              |
/// |         ACK sent,  +--------+    +---------------+              |
/// |         resp. to TU|                             |              |
/// |                    V                             V              |
/// |              +-----------+                   +----------+       |
/// +------------->|           |Transport Err.     |          |       |
///                | Completed |Inform TU          | Accepted |       |
///             +--|           |-------+           |          |-+     |
///     300-699 |  +-----------+       |           +----------+ |     |
///     ACK sent|    ^  |              |               |  ^     |     |
///             +----+  |              |               |  +-----+     |
///                     |Timer D fires |  Timer M fires|    2xx       |
///                     |-             |             - |    2xx to TU |
///                     +--------+     |   +-----------+              |
///                              V     V   V                          |
///                             +------------+                        |
///                             | Terminated |<-----------------------+
///                             +------------+
/// ```
///
/// # Contract
///
/// * Create with [`ClientInvite::new`]; it queues the INVITE for
///   transmission.
/// * Input: [`handle_response`](Self::handle_response) for every response
///   matching the transaction (RFC 3261 section 17.1.3),
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_timeout`](Self::handle_timeout) when
///   [`poll_timeout`](Self::poll_timeout) is reached.
/// * TU calls: [`set_ack`](Self::set_ack) after [`Action::SendAck`] (before
///   the next `handle_timeout`: on reliable transports Timer D is zero),
///   [`cancel_sent`](Self::cancel_sent) when the TU sent a CANCEL.
/// * After each call, drain [`poll_action`](Self::poll_action) until `None`,
///   then read `poll_timeout` again.
///
/// The machine never builds an ACK: 2xx responses are acknowledged by the TU
/// (a new transaction, RFC 3261 section 13.2.2.4); the ACK for 300-699 is
/// built by the caller and given back with `set_ack`. A transport error in
/// `Accepted` also terminates the machine (RFC 3261 section 17.1.4).
#[derive(Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    transport: Transport,
    config: TimerConfig,
    request: Bytes,
    /// Current Timer A interval.
    interval: Duration,
    /// The ACK for the 300-699 final response, once the caller set it.
    ack: Option<Bytes>,
    timers: Timers<5>,
    actions: VecDeque<Action>,
}

impl ClientInvite {
    /// Starts the transaction at `now`: queues [`Action::Transmit`] of
    /// `request` (the serialized INVITE), arms Timer B and, on unreliable
    /// transports, Timer A.
    pub fn new(now: Instant, request: Bytes, transport: Transport, config: &TimerConfig) -> Self {
        // Terminating timers first: on a tie they win.
        let mut timers = Timers::new([Timer::B, Timer::D, Timer::M, Timer::Cancel, Timer::A]);
        timers.set(Timer::B, now + config.sixty_four_t1());
        if !transport.is_reliable() {
            timers.set(Timer::A, now + config.t1);
        }
        let mut actions = VecDeque::with_capacity(2);
        actions.push_back(Action::Transmit(request.clone()));
        ClientInvite {
            state: ClientInviteState::Calling,
            transport,
            config: *config,
            request,
            interval: config.t1,
            ack: None,
            timers,
            actions,
        }
    }

    // ---- getters ----

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// `true` once the machine reached `Terminated`.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }

    /// The transport reliability the machine was created with.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// `true` while a CANCEL may be sent for this INVITE (RFC 3261 section
    /// 9.1: only in `Proceeding`).
    pub fn can_cancel(&self) -> bool {
        self.state == ClientInviteState::Proceeding
    }

    // ---- input ----

    /// A response matching this transaction arrived from the network.
    ///
    /// Errors only for a status outside 100-699 or after termination;
    /// responses the state does not expect are absorbed.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        message: Bytes,
    ) -> Result<(), Error> {
        let status = check_status(status)?;
        use ClientInviteState::*;
        match (self.state, status) {
            (Terminated, _) => return Err(Error::Terminated),
            (Calling | Proceeding, 100..=199) => {
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.state = Proceeding;
                self.actions.push_back(Action::Response { status, message });
            }
            (Calling | Proceeding, 200..=299) => {
                self.timers.stop_all();
                self.timers.set(Timer::M, now + self.config.sixty_four_t1());
                self.state = Accepted;
                self.actions.push_back(Action::Response { status, message });
            }
            (Calling | Proceeding, _) => {
                self.timers.stop_all();
                self.timers
                    .set(Timer::D, now + self.config.timer_d(self.transport));
                self.state = Completed;
                self.actions.push_back(Action::Response { status, message });
                self.actions.push_back(Action::SendAck { status });
            }
            (Accepted, 200..=299) => {
                self.actions.push_back(Action::Response { status, message });
            }
            (Completed, 300..=699) => {
                if let Some(ack) = &self.ack {
                    self.actions.push_back(Action::Transmit(ack.clone()));
                }
            }
            // Provisional or final responses after a final response of
            // another class are absorbed.
            (Accepted | Completed, _) => {}
        }
        Ok(())
    }

    /// The transport reported a fatal error sending to this transaction's
    /// destination (RFC 3261 section 17.1.4): queues
    /// [`Action::TransportError`] and terminates.
    pub fn handle_transport_error(&mut self, _now: Instant) -> Result<(), Error> {
        if self.is_terminated() {
            return Err(Error::Terminated);
        }
        self.actions.push_back(Action::TransportError);
        self.terminate();
        Ok(())
    }

    /// Processes every timer due at `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::A => {
                    self.actions
                        .push_back(Action::Transmit(self.request.clone()));
                    // RFC 3261 section 17.1.1.2: doubled, no cap.
                    self.interval = self.interval.saturating_mul(2);
                    self.timers.set(Timer::A, after(now, self.interval));
                }
                Timer::B | Timer::Cancel => {
                    self.actions.push_back(Action::Timeout(timer));
                    self.terminate();
                }
                // Timer D, Timer M.
                _ => self.terminate(),
            }
        }
    }

    // ---- TU calls ----

    /// Hands over the ACK the caller built for the 300-699 final response
    /// announced by [`Action::SendAck`]; the machine transmits it now and
    /// again for every retransmission of the final response.
    pub fn set_ack(&mut self, _now: Instant, ack: Bytes) -> Result<(), Error> {
        if self.state != ClientInviteState::Completed || self.ack.is_some() {
            return Err(Error::AckNotExpected {
                state: self.state.name(),
            });
        }
        self.actions.push_back(Action::Transmit(ack.clone()));
        self.ack = Some(ack);
        Ok(())
    }

    /// The TU sent a CANCEL for this INVITE (RFC 3261 section 9.1): if no
    /// final response arrives within 64*T1, the transaction ends with
    /// [`Action::Timeout`]`(`[`Timer::Cancel`]`)`.
    ///
    /// Errors outside `Proceeding`: a CANCEL must wait for a provisional
    /// response and is useless after a final one.
    pub fn cancel_sent(&mut self, now: Instant) -> Result<(), Error> {
        if self.state != ClientInviteState::Proceeding {
            return Err(Error::CancelNotAllowed {
                state: self.state.name(),
            });
        }
        if !self.timers.is_armed(Timer::Cancel) {
            self.timers
                .set(Timer::Cancel, now + self.config.sixty_four_t1());
        }
        Ok(())
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

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.state = ClientInviteState::Terminated;
        self.actions.push_back(Action::Terminated);
    }
}
