//! The non-INVITE client transaction (RFC 3261 section 17.1.2).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::timer::{after, Timers};
use crate::{check_status, Action, Error, Timer, TimerConfig, Transport};

/// The state of a [`ClientNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientNonInviteState {
    /// Request sent, no response yet; Timer E retransmits (unreliable),
    /// Timer F times out.
    Trying,
    /// A provisional arrived; Timer E keeps retransmitting every T2, Timer F
    /// still times out.
    Proceeding,
    /// A final response arrived; retransmissions of it are absorbed until
    /// Timer K.
    Completed,
    /// Done: drop the machine.
    Terminated,
}

/// A non-INVITE client transaction: RFC 3261 section 17.1.2 (figure 6):
///
/// ```text
///                                |Request from TU
///                                |send request
///            Timer E             V
///            send request  +-----------+
///                +---------|           |-------------------+
///                |         |  Trying   |  Timer F          |
///                +-------->|           |  or Transport Err.|
///                          +-----------+  inform TU        |
///             200-699         |  |                         |
///             resp. to TU     |  |1xx                      |
///             +---------------+  |resp. to TU              |
///             |                  |                         |
///             |   Timer E        V       Timer F           |
///             |   send req +-----------+ or Transport Err. |
///             |  +---------|           | inform TU         |
///             |  |         |Proceeding |------------------>|
///             |  +-------->|           |-----+             |
///             |            +-----------+     |1xx          |
///             |              |      ^        |resp to TU   |
///             | 200-699      |      +--------+             |
///             | resp. to TU  |                             |
///             |              V                             |
///             |            +-----------+                   |
///             |            | Completed |                   |
///             |            +-----------+                   |
///             |              ^   |                         |
///             |              |   | Timer K                 |
///             +--------------+   | -                       |
///                                V                         |
///                          +-----------+                   |
///                          | Terminated|<------------------+
///                          +-----------+
/// ```
///
/// Timer E doubles from T1 up to T2 in `Trying` and is T2 in `Proceeding`;
/// it runs on unreliable transports only. Timer F ([`Action::Timeout`]) means
/// the TU must act as if a 408 arrived (RFC 3261 section 8.1.3.1). Timer K is
/// T4 on unreliable transports, zero on reliable ones.
///
/// # Contract
///
/// Create with [`ClientNonInvite::new`] (queues the request); feed
/// [`handle_response`](Self::handle_response),
/// [`handle_transport_error`](Self::handle_transport_error) and
/// [`handle_timeout`](Self::handle_timeout); after each call drain
/// [`poll_action`](Self::poll_action) and re-read
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    transport: Transport,
    config: TimerConfig,
    request: Bytes,
    /// Current Timer E interval.
    interval: Duration,
    timers: Timers<3>,
    actions: VecDeque<Action>,
}

impl ClientNonInvite {
    /// Starts the transaction at `now`: queues [`Action::Transmit`] of
    /// `request`, arms Timer F and, on unreliable transports, Timer E.
    pub fn new(now: Instant, request: Bytes, transport: Transport, config: &TimerConfig) -> Self {
        let mut timers = Timers::new([Timer::F, Timer::K, Timer::E]);
        timers.set(Timer::F, now + config.sixty_four_t1());
        if !transport.is_reliable() {
            timers.set(Timer::E, now + config.t1);
        }
        let mut actions = VecDeque::with_capacity(2);
        actions.push_back(Action::Transmit(request.clone()));
        ClientNonInvite {
            state: ClientNonInviteState::Trying,
            transport,
            config: *config,
            request,
            interval: config.t1,
            timers,
            actions,
        }
    }

    // ---- getters ----

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// `true` once the machine reached `Terminated`.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientNonInviteState::Terminated
    }

    /// The transport reliability the machine was created with.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    // ---- input ----

    /// A response matching this transaction arrived from the network.
    ///
    /// Errors only for a status outside 100-699 or after termination;
    /// retransmitted final responses are absorbed.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        message: Bytes,
    ) -> Result<(), Error> {
        let status = check_status(status)?;
        use ClientNonInviteState::*;
        match (self.state, status) {
            (Terminated, _) => return Err(Error::Terminated),
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.actions.push_back(Action::Response { status, message });
            }
            (Trying | Proceeding, _) => {
                self.timers.stop_all();
                self.timers
                    .set(Timer::K, now + self.config.t4_or_zero(self.transport));
                self.state = Completed;
                self.actions.push_back(Action::Response { status, message });
            }
            (Completed, _) => {}
        }
        Ok(())
    }

    /// The transport reported a fatal error (RFC 3261 section 17.1.4):
    /// queues [`Action::TransportError`] and terminates.
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
                Timer::E => {
                    self.actions
                        .push_back(Action::Transmit(self.request.clone()));
                    self.interval = match self.state {
                        ClientNonInviteState::Proceeding => self.config.t2,
                        _ => self.config.double_capped(self.interval),
                    };
                    self.timers.set(Timer::E, after(now, self.interval));
                }
                Timer::F => {
                    self.actions.push_back(Action::Timeout(Timer::F));
                    self.terminate();
                }
                // Timer K.
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
        self.state = ClientNonInviteState::Terminated;
        self.actions.push_back(Action::Terminated);
    }
}
