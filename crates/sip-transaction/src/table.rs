//! Many live transactions, one clock: the transaction table.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use foldhash::fast::RandomState;

use crate::{
    Action, ClientInvite, ClientInviteState, ClientNonInvite, ClientNonInviteState, Error, Kind,
    Role, ServerInvite, ServerInviteState, ServerNonInvite, ServerNonInviteState, TimerConfig,
    TransactionKey, Transport,
};

/// A handle to a transaction in a [`TransactionTable`]. Ids are never
/// reused, so a stale id fails with [`Error::UnknownTransaction`] instead of
/// reaching another transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(u64);

impl TransactionId {
    /// The raw number, for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// The state of a transaction in a [`TransactionTable`], by machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // named after the machine types
pub enum TransactionState {
    /// An INVITE client transaction.
    ClientInvite(ClientInviteState),
    /// A non-INVITE client transaction.
    ClientNonInvite(ClientNonInviteState),
    /// An INVITE server transaction (a CANCEL still has an effect while it
    /// is `Proceeding`, RFC 3261 section 9.2).
    ServerInvite(ServerInviteState),
    /// A non-INVITE server transaction.
    ServerNonInvite(ServerNonInviteState),
}

#[derive(Debug)]
enum Machine {
    UacInvite(ClientInvite),
    UacOther(ClientNonInvite),
    UasInvite(ServerInvite),
    UasOther(ServerNonInvite),
}

macro_rules! each {
    ($m:expr, $t:ident => $e:expr) => {
        match $m {
            Machine::UacInvite($t) => $e,
            Machine::UacOther($t) => $e,
            Machine::UasInvite($t) => $e,
            Machine::UasOther($t) => $e,
        }
    };
}

impl Machine {
    fn poll_timeout(&self) -> Option<Instant> {
        each!(self, m => m.poll_timeout())
    }
    fn handle_timeout(&mut self, now: Instant) {
        each!(self, m => m.handle_timeout(now))
    }
    fn poll_action(&mut self) -> Option<Action> {
        each!(self, m => m.poll_action())
    }
    fn is_terminated(&self) -> bool {
        each!(self, m => m.is_terminated())
    }
    fn handle_transport_error(&mut self, now: Instant) -> Result<(), Error> {
        each!(self, m => m.handle_transport_error(now))
    }
}

#[derive(Debug)]
struct Entry {
    key: TransactionKey,
    machine: Machine,
    /// The deadline this entry has in the timer queue.
    deadline: Option<Instant>,
}

/// Many live transactions keyed by [`TransactionKey`], one clock for all.
///
/// # Contract
///
/// * Creating: `start_*` for a request we send (client) or one that matched
///   no transaction (server). Each returns the [`TransactionId`] that
///   [`poll_action`](Self::poll_action) reports with every action.
/// * Input: [`handle_request`](Self::handle_request) and
///   [`handle_response`](Self::handle_response) route a message by key to
///   its transaction and return its id, or `None` when nothing matched: then
///   the message goes to the core (a new request: call `start_server_*`; an
///   ACK: it acknowledges a 2xx, RFC 3261 section 17.2.3 / 13.3.1.4; a
///   response: a stray or a 2xx retransmission after Timer M, RFC 3261
///   section 17.1.3).
/// * TU calls by id: [`send_response`](Self::send_response),
///   [`set_ack`](Self::set_ack), [`cancel_sent`](Self::cancel_sent),
///   [`handle_transport_error`](Self::handle_transport_error).
/// * Time: sleep until [`poll_timeout`](Self::poll_timeout) (the earliest
///   deadline over all transactions), then call
///   [`handle_timeout`](Self::handle_timeout); due transactions are handled
///   in deadline order.
/// * After every call, drain [`poll_action`](Self::poll_action) until
///   `None` before the next `handle_timeout`. [`Action::Transmit`] goes to
///   the transaction's destination, which the caller keeps by id.
///
/// A transaction is removed as soon as it terminates; its last action is
/// [`Action::Terminated`].
///
/// The timer queue is a `BTreeSet<(Instant, TransactionId)>` holding exactly
/// one entry per transaction with an armed timer: a reschedule removes the
/// old entry (O(log n)), so there is no lazy deletion and no stale entry
/// keeps memory after its transaction is gone.
#[derive(Debug)]
pub struct TransactionTable {
    config: TimerConfig,
    next_id: u64,
    entries: HashMap<TransactionId, Entry, RandomState>,
    /// Keys carry the peer's branch and sent-by: a keyed hash with a
    /// random seed per table, so crafted branches cannot aim at a bucket.
    index: HashMap<TransactionKey, TransactionId, RandomState>,
    timers: BTreeSet<(Instant, TransactionId)>,
    actions: VecDeque<(TransactionId, Action)>,
    /// The capacity asked for at creation: the maps are never shrunk below.
    reserved: usize,
}

impl TransactionTable {
    /// An empty table whose transactions use `config`.
    pub fn new(config: TimerConfig) -> Self {
        Self::with_capacity(config, 0)
    }

    /// An empty table with room for `capacity` live transactions before
    /// its maps grow, and never shrunk below it. A server sizes it for its
    /// busy hour: growing a map of many thousand transactions rehashes it
    /// all at once, a pause of milliseconds in the middle of the load
    /// (seen as p99 setup-time spikes in bench/call_load.sh). Memory the
    /// map reserves and never uses is not touched.
    pub fn with_capacity(config: TimerConfig, capacity: usize) -> Self {
        TransactionTable {
            config,
            next_id: 0,
            entries: HashMap::with_capacity_and_hasher(capacity, RandomState::default()),
            index: HashMap::with_capacity_and_hasher(capacity, RandomState::default()),
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
            reserved: capacity,
        }
    }

    // ---- getters ----

    /// The timer values of this table's transactions.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The id of the live transaction with this key.
    pub fn id(&self, key: &TransactionKey) -> Option<TransactionId> {
        self.index.get(key).copied()
    }

    /// The key of a live transaction.
    pub fn key(&self, id: TransactionId) -> Option<&TransactionKey> {
        self.entries.get(&id).map(|e| &e.key)
    }

    /// `true` if `id` is a live INVITE client transaction in which a CANCEL
    /// may be sent now (RFC 3261 section 9.1: after a provisional response,
    /// before a final one).
    pub fn can_cancel(&self, id: TransactionId) -> bool {
        matches!(self.entries.get(&id), Some(Entry { machine: Machine::UacInvite(m), .. }) if m.can_cancel())
    }

    /// The state of a live transaction; `None` once it is gone.
    pub fn state(&self, id: TransactionId) -> Option<TransactionState> {
        Some(match &self.entries.get(&id)?.machine {
            Machine::UacInvite(m) => TransactionState::ClientInvite(m.state()),
            Machine::UacOther(m) => TransactionState::ClientNonInvite(m.state()),
            Machine::UasInvite(m) => TransactionState::ServerInvite(m.state()),
            Machine::UasOther(m) => TransactionState::ServerNonInvite(m.state()),
        })
    }

    /// Number of transactions with an armed timer (diagnostics: equals the
    /// timer queue's size).
    pub fn armed_timers(&self) -> usize {
        self.timers.len()
    }

    // ---- creating ----

    /// Starts an INVITE client transaction (see [`ClientInvite::new`]);
    /// `key` must be a client INVITE key.
    pub fn start_client_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        request: Bytes,
        transport: Transport,
    ) -> Result<TransactionId, Error> {
        self.check_new(&key, Role::Client, true)?;
        let machine = ClientInvite::new(now, request, transport, &self.config);
        Ok(self.insert(key, Machine::UacInvite(machine)))
    }

    /// Starts a non-INVITE client transaction (see [`ClientNonInvite::new`]);
    /// `key` must be a client key of a non-INVITE method.
    pub fn start_client_non_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        request: Bytes,
        transport: Transport,
    ) -> Result<TransactionId, Error> {
        self.check_new(&key, Role::Client, false)?;
        let machine = ClientNonInvite::new(now, request, transport, &self.config);
        Ok(self.insert(key, Machine::UacOther(machine)))
    }

    /// Starts an INVITE server transaction (see [`ServerInvite::new`]) for an
    /// INVITE that matched nothing; `trying` is its `100 Trying`.
    pub fn start_server_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        trying: Bytes,
        transport: Transport,
    ) -> Result<TransactionId, Error> {
        self.check_new(&key, Role::Server, true)?;
        let machine = ServerInvite::new(now, trying, transport, &self.config);
        Ok(self.insert(key, Machine::UasInvite(machine)))
    }

    /// Starts a non-INVITE server transaction (see [`ServerNonInvite::new`])
    /// for a request (not ACK) that matched nothing.
    pub fn start_server_non_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        transport: Transport,
    ) -> Result<TransactionId, Error> {
        self.check_new(&key, Role::Server, false)?;
        let machine = ServerNonInvite::new(now, transport, &self.config);
        Ok(self.insert(key, Machine::UasOther(machine)))
    }

    // ---- input ----

    /// Routes a request received from the network to the server
    /// transaction with `key`. Returns the id it went to, or `None` when no
    /// transaction matched (the request goes to the core).
    pub fn handle_request(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        kind: Kind,
        message: Bytes,
    ) -> Result<Option<TransactionId>, Error> {
        let Some(id) = self.id(key) else {
            return Ok(None);
        };
        self.with(id, |m| match m {
            Machine::UasInvite(m) => m.handle_request(now, kind, message),
            Machine::UasOther(m) => m.handle_request(now, kind, message),
            _ => Err(Error::WrongTransactionType),
        })?;
        Ok(Some(id))
    }

    /// Routes a response received from the network to the client
    /// transaction with `key`. Returns the id it went to, or `None` when no
    /// transaction matched (the response goes to the core).
    pub fn handle_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status: u16,
        message: Bytes,
    ) -> Result<Option<TransactionId>, Error> {
        let Some(id) = self.id(key) else {
            return Ok(None);
        };
        self.with(id, |m| match m {
            Machine::UacInvite(m) => m.handle_response(now, status, message),
            Machine::UacOther(m) => m.handle_response(now, status, message),
            _ => Err(Error::WrongTransactionType),
        })?;
        Ok(Some(id))
    }

    /// The transport failed for transaction `id` (see each machine's
    /// `handle_transport_error`).
    pub fn handle_transport_error(&mut self, now: Instant, id: TransactionId) -> Result<(), Error> {
        self.with(id, |m| m.handle_transport_error(now))
    }

    /// Processes every transaction whose deadline is at or before `now`, in
    /// deadline order.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.deadline = None;
                entry.machine.handle_timeout(now);
                self.after(id);
            }
        }
    }

    // ---- TU calls ----

    /// The TU sends a response through server transaction `id` (see
    /// [`ServerInvite::send_response`] and
    /// [`ServerNonInvite::send_response`]).
    pub fn send_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        status: u16,
        message: Bytes,
    ) -> Result<(), Error> {
        self.with(id, |m| match m {
            Machine::UasInvite(m) => m.send_response(now, status, message),
            Machine::UasOther(m) => m.send_response(now, status, message),
            _ => Err(Error::WrongTransactionType),
        })
    }

    /// Hands the ACK for a 300-699 to INVITE client transaction `id` after
    /// [`Action::SendAck`] (see [`ClientInvite::set_ack`]).
    pub fn set_ack(&mut self, now: Instant, id: TransactionId, ack: Bytes) -> Result<(), Error> {
        self.with(id, |m| match m {
            Machine::UacInvite(m) => m.set_ack(now, ack),
            _ => Err(Error::WrongTransactionType),
        })
    }

    /// The TU sent a CANCEL for INVITE client transaction `id` (see
    /// [`ClientInvite::cancel_sent`]).
    pub fn cancel_sent(&mut self, now: Instant, id: TransactionId) -> Result<(), Error> {
        self.with(id, |m| match m {
            Machine::UacInvite(m) => m.cancel_sent(now),
            _ => Err(Error::WrongTransactionType),
        })
    }

    // ---- output ----

    /// The earliest deadline over all transactions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// The next action of any transaction, with the transaction's id.
    pub fn poll_action(&mut self) -> Option<(TransactionId, Action)> {
        let action = self.actions.pop_front();
        if self.actions.is_empty() && self.actions.capacity() > 1024 {
            self.actions.shrink_to(64);
        }
        action
    }

    // ---- internals ----

    fn check_new(&self, key: &TransactionKey, role: Role, invite: bool) -> Result<(), Error> {
        if key.role() != role || (key.method() == Kind::Invite) != invite {
            return Err(Error::WrongTransactionType);
        }
        if self.index.contains_key(key) {
            return Err(Error::DuplicateKey);
        }
        Ok(())
    }

    fn insert(&mut self, key: TransactionKey, machine: Machine) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        self.index.insert(key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                key,
                machine,
                deadline: None,
            },
        );
        self.after(id);
        id
    }

    /// Runs `f` on the machine of `id`, then collects its actions and
    /// reschedules or removes it.
    fn with(
        &mut self,
        id: TransactionId,
        f: impl FnOnce(&mut Machine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(Error::UnknownTransaction(id))?;
        let result = f(&mut entry.machine);
        self.after(id);
        result
    }

    /// Moves the actions of `id` to the table's queue, then removes it if
    /// it terminated or moves its timer queue entry to its new deadline.
    fn after(&mut self, id: TransactionId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        while let Some(action) = entry.machine.poll_action() {
            self.actions.push_back((id, action));
        }
        if entry.machine.is_terminated() {
            if let Some(at) = entry.deadline {
                self.timers.remove(&(at, id));
            }
            if let Some(entry) = self.entries.remove(&id) {
                self.index.remove(&entry.key);
            }
            self.maybe_shrink();
            return;
        }
        let next = entry.machine.poll_timeout();
        if next != entry.deadline {
            if let Some(at) = entry.deadline {
                self.timers.remove(&(at, id));
            }
            if let Some(at) = next {
                self.timers.insert((at, id));
            }
            entry.deadline = next;
        }
    }

    /// Gives memory back once most transactions are gone.
    fn maybe_shrink(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > 64.max(self.reserved) && len * 4 < self.entries.capacity() {
            let keep = (len * 2).max(self.reserved);
            self.entries.shrink_to(keep);
            self.index.shrink_to(keep);
        }
    }
}
