//! The INVITE server transaction (RFC 3261 section 17.2.1, RFC 6026 sections
//! 7.1, 8.5 to 8.8).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::timer::{after, Timers, TRYING_DELAY};
use crate::{check_status, Action, Error, Kind, Timer, TimerConfig, Transport};

/// The state of a [`ServerInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerInviteState {
    /// The INVITE was passed to the TU; provisional responses go out, INVITE
    /// retransmissions get the latest provisional again.
    Proceeding,
    /// A 300-699 was sent; Timer G retransmits it (unreliable) until the ACK
    /// or Timer H.
    Completed,
    /// The ACK for the 300-699 arrived; ACK retransmissions are absorbed
    /// until Timer I.
    Confirmed,
    /// A 2xx was sent (RFC 6026): INVITE retransmissions are absorbed, ACKs
    /// and the TU's 2xx retransmissions pass through, until Timer L.
    Accepted,
    /// Done: drop the machine.
    Terminated,
}

impl ServerInviteState {
    fn name(self) -> &'static str {
        match self {
            ServerInviteState::Proceeding => "Proceeding",
            ServerInviteState::Completed => "Completed",
            ServerInviteState::Confirmed => "Confirmed",
            ServerInviteState::Accepted => "Accepted",
            ServerInviteState::Terminated => "Terminated",
        }
    }
}

/// An INVITE server transaction: RFC 3261 section 17.2.1 as corrected by
/// RFC 6026 (figure 7 of RFC 6026):
///
/// ```text
///                                   |INVITE
///                                   |pass INV to TU
///                INVITE             V send 100 if TU won't in 200 ms
///                send response+------------+
///                    +--------|            |--------+ 101-199 from TU
///                    |        |            |        | send response
///                    +------->|            |<-------+
///                             | Proceeding |
///                             |            |--------+ Transport Err.
///                             |            |        | Inform TU
///                             |            |<-------+
///                             +------------+
///                300-699 from TU |    |2xx from TU
///                send response   |    |send response
///                 +--------------+    +------------+
///                 |                                |
/// INVITE          V          Timer G fires         |
/// send response +-----------+ send response        |
///      +--------|           |--------+             |
///      |        |           |        |             |
///      +------->| Completed |<-------+      INVITE |  Transport Err.
///               |           |               -      |  Inform TU
///      +--------|           |----+          +-----+|  +---+
///      |        +-----------+    | ACK      |     |v  |   v
///      |          ^   |          | -        |  +------------+
///      |          |   |          |          |  |            |---+ ACK
///      +----------+   |          |          +->|  Accepted  |   | to TU
///      Transport Err. |          |             |            |<--+
///      Inform TU      |          V             +------------+
///                     |      +-----------+        |  ^     |
///                     |      | Confirmed |        |  +-----+
///                     |      +-----------+        |  2xx from TU
///       Timer H fires |          |                |  send response
///       -             |          | Timer I fires  |
///                     |          | -              | Timer L fires
///                     |          V                | -
///                     |        +------------+     |
///                     |        |            |<----+
///                     +------->| Terminated |
///                              +------------+
/// ```
///
/// # Contract
///
/// * Create with [`ServerInvite::new`] when an INVITE matched no
///   transaction, giving the serialized `100 Trying` for it: the machine
///   sends it by itself if the TU has sent no response 200 ms later (or at
///   once when an INVITE retransmission arrives before that). The machine
///   does not queue the INVITE for the TU: the caller already holds it.
/// * Input: [`handle_request`](Self::handle_request) for INVITE
///   retransmissions and ACKs matching the transaction,
///   [`handle_transport_error`](Self::handle_transport_error),
///   [`handle_timeout`](Self::handle_timeout).
/// * TU calls: [`send_response`](Self::send_response) for every response,
///   including the TU's own 2xx retransmissions in `Accepted`
///   (RFC 3261 section 13.3.1.4; the transaction never retransmits a 2xx).
/// * After each call drain [`poll_action`](Self::poll_action), then re-read
///   [`poll_timeout`](Self::poll_timeout).
///
/// Timer H firing yields [`Action::Timeout`]`(`[`Timer::H`]`)`: the ACK never
/// came. A transport error is reported to the TU and the machine stays in
/// its state (RFC 6026 section 8.8): its timers end it.
#[derive(Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    transport: Transport,
    config: TimerConfig,
    /// The `100 Trying` while not yet sent and no response was sent.
    trying: Option<Bytes>,
    /// The response to repeat on an INVITE retransmission (latest
    /// provisional in `Proceeding`, the final in `Completed`).
    last_response: Option<Bytes>,
    /// Current Timer G interval.
    interval: Duration,
    timers: Timers<5>,
    actions: VecDeque<Action>,
}

impl ServerInvite {
    /// Starts the transaction at `now` for a new INVITE, in `Proceeding`;
    /// `trying` is the serialized `100 Trying` to send if the TU stays
    /// silent for 200 ms (RFC 3261 section 17.2.1).
    pub fn new(now: Instant, trying: Bytes, transport: Transport, config: &TimerConfig) -> Self {
        let mut timers = Timers::new([Timer::H, Timer::I, Timer::L, Timer::G, Timer::Trying]);
        timers.set(Timer::Trying, now + TRYING_DELAY);
        ServerInvite {
            state: ServerInviteState::Proceeding,
            transport,
            config: *config,
            trying: Some(trying),
            last_response: None,
            interval: config.t1,
            timers,
            actions: VecDeque::with_capacity(2),
        }
    }

    // ---- getters ----

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// `true` once the machine reached `Terminated`.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }

    /// The transport reliability the machine was created with.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    // ---- input ----

    /// A request matching this transaction arrived: an INVITE
    /// retransmission or an ACK (RFC 3261 section 17.2.3).
    ///
    /// In `Proceeding` an INVITE retransmission gets the latest provisional
    /// again (or the `100 Trying` at once if none was sent); in `Completed`
    /// the final response again. An ACK moves `Completed` to `Confirmed`
    /// and is passed up as [`Action::Ack`] in `Accepted`. Everything else is
    /// absorbed. Errors for `CANCEL` or other methods (they belong to
    /// transactions of their own) and after termination.
    pub fn handle_request(
        &mut self,
        now: Instant,
        kind: Kind,
        message: Bytes,
    ) -> Result<(), Error> {
        use ServerInviteState::*;
        if self.state == Terminated {
            return Err(Error::Terminated);
        }
        match (kind, self.state) {
            (Kind::Cancel | Kind::Other, _) => return Err(Error::UnexpectedRequest(kind)),
            (Kind::Invite, Proceeding) => {
                if let Some(trying) = self.trying.take() {
                    self.timers.stop(Timer::Trying);
                    self.last_response = Some(trying);
                }
                if let Some(last) = &self.last_response {
                    self.actions.push_back(Action::Transmit(last.clone()));
                }
            }
            (Kind::Invite, Completed) => {
                if let Some(last) = &self.last_response {
                    self.actions.push_back(Action::Transmit(last.clone()));
                }
            }
            (Kind::Ack, Completed) => {
                self.timers.stop(Timer::G);
                self.timers.stop(Timer::H);
                self.timers
                    .set(Timer::I, now + self.config.t4_or_zero(self.transport));
                self.state = Confirmed;
            }
            (Kind::Ack, Accepted) => self.actions.push_back(Action::Ack(message)),
            // INVITE in Accepted/Confirmed, ACK in Proceeding/Confirmed.
            _ => {}
        }
        Ok(())
    }

    /// The TU sends a response through the transaction: queues
    /// [`Action::Transmit`] and moves the state (1xx stays in `Proceeding`,
    /// 2xx goes to `Accepted`, 300-699 to `Completed`). In `Accepted` only
    /// 2xx (the TU's retransmissions) are allowed.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        message: Bytes,
    ) -> Result<(), Error> {
        let status = check_status(status)?;
        use ServerInviteState::*;
        match (self.state, status) {
            (Terminated, _) => return Err(Error::Terminated),
            (Proceeding, 100..=199) => {
                self.trying = None;
                self.timers.stop(Timer::Trying);
                self.last_response = Some(message.clone());
            }
            (Proceeding, 200..=299) => {
                self.trying = None;
                self.last_response = None;
                self.timers.stop_all();
                self.timers.set(Timer::L, now + self.config.sixty_four_t1());
                self.state = Accepted;
            }
            (Proceeding, _) => {
                self.trying = None;
                self.last_response = Some(message.clone());
                self.timers.stop_all();
                self.timers.set(Timer::H, now + self.config.sixty_four_t1());
                if !self.transport.is_reliable() {
                    self.timers.set(Timer::G, now + self.config.t1);
                }
                self.state = Completed;
            }
            (Accepted, 200..=299) => {}
            (state, status) => {
                return Err(Error::ResponseNotAllowed {
                    status,
                    state: state.name(),
                });
            }
        }
        self.actions.push_back(Action::Transmit(message));
        Ok(())
    }

    /// The transport failed to deliver a response (RFC 3261 section 17.2.4
    /// as changed by RFC 6026 section 8.8): queues
    /// [`Action::TransportError`]; the machine stays in its state.
    pub fn handle_transport_error(&mut self, _now: Instant) -> Result<(), Error> {
        if self.is_terminated() {
            return Err(Error::Terminated);
        }
        self.actions.push_back(Action::TransportError);
        Ok(())
    }

    /// Processes every timer due at `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Trying => {
                    if let Some(trying) = self.trying.take() {
                        self.actions.push_back(Action::Transmit(trying.clone()));
                        self.last_response = Some(trying);
                    }
                }
                Timer::G => {
                    if let Some(last) = &self.last_response {
                        self.actions.push_back(Action::Transmit(last.clone()));
                    }
                    self.interval = self.config.double_capped(self.interval);
                    self.timers.set(Timer::G, after(now, self.interval));
                }
                Timer::H => {
                    self.actions.push_back(Action::Timeout(Timer::H));
                    self.terminate();
                }
                // Timer I, Timer L.
                _ => self.terminate(),
            }
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

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.trying = None;
        self.last_response = None;
        self.state = ServerInviteState::Terminated;
        self.actions.push_back(Action::Terminated);
    }
}
