//! A client and a server [`TransactionTable`] wired back to back by an
//! in-memory link with 10 ms latency and scripted loss; the clock jumps to
//! the next arrival or deadline (the quinn-proto `Pair` pattern).
//!
//! Wire format of the opaque test messages: requests are
//! `"{METHOD} {branch} {sent-by}"`, responses `"SIP/2.0 {status} {branch}
//! {CSeq method}"`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_transaction::{
    Action, Kind, TimerConfig, TransactionId, TransactionKey, TransactionTable, Transport,
};

use crate::util::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

type Loss = Box<dyn FnMut(Dir, usize, &str) -> bool>;

struct Pair {
    t0: Instant,
    now: Instant,
    config: TimerConfig,
    transport: Transport,
    client: TransactionTable,
    server: TransactionTable,
    in_flight: VecDeque<(Instant, Dir, Bytes)>,
    loss: Loss,
    sent: [usize; 2],
    /// Every datagram put on the link: direction, text, dropped?
    wire: Vec<(Dir, String, bool)>,
    /// Client transaction id -> (branch, method).
    client_branches: HashMap<TransactionId, (String, String)>,
    /// Non-transmit actions reaching each TU.
    client_tu: Vec<Action>,
    server_tu: Vec<Action>,
    /// Requests that matched no server transaction (new ones and ACKs for
    /// 2xx), and responses that matched no client transaction.
    server_core: Vec<String>,
    client_core: Vec<String>,
    /// What the server TU answers at once to a new request.
    answers: Vec<u16>,
    /// The server TU's own 2xx retransmission (RFC 3261 13.3.1.4):
    /// (deadline, interval, transaction, message).
    tu_2xx: Option<(Instant, Duration, TransactionId, Bytes)>,
}

fn text(m: &Bytes) -> String {
    String::from_utf8(m.to_vec()).unwrap()
}

fn kind_of(method: &str) -> Kind {
    match method {
        "INVITE" => Kind::Invite,
        "ACK" => Kind::Ack,
        "CANCEL" => Kind::Cancel,
        _ => Kind::Other,
    }
}

impl Pair {
    fn new(transport: Transport, answers: &[u16], loss: Loss) -> Self {
        let t0 = origin();
        let config = cfg();
        Pair {
            t0,
            now: t0,
            config,
            transport,
            client: TransactionTable::new(config),
            server: TransactionTable::new(config),
            in_flight: VecDeque::new(),
            loss,
            sent: [0, 0],
            wire: Vec::new(),
            client_branches: HashMap::new(),
            client_tu: Vec::new(),
            server_tu: Vec::new(),
            server_core: Vec::new(),
            client_core: Vec::new(),
            answers: answers.to_vec(),
            tu_2xx: None,
        }
    }

    fn send_request(&mut self, method: &str, branch: &str) {
        let kind = kind_of(method);
        let key = TransactionKey::client(branch, kind);
        let msg = Bytes::from(format!("{method} {branch} client.test:5060"));
        let id = if kind == Kind::Invite {
            self.client
                .start_client_invite(self.now, key, msg, self.transport)
        } else {
            self.client
                .start_client_non_invite(self.now, key, msg, self.transport)
        }
        .unwrap();
        self.client_branches
            .insert(id, (branch.to_owned(), method.to_owned()));
    }

    fn put(&mut self, dir: Dir, m: Bytes) {
        let i = dir as usize;
        let n = self.sent[i];
        self.sent[i] += 1;
        let t = text(&m);
        let dropped = (self.loss)(dir, n, &t);
        self.wire.push((dir, t, dropped));
        if !dropped {
            self.in_flight.push_back((self.now + ms(10), dir, m));
        }
    }

    /// Drains both tables and lets the TUs react, until quiet.
    fn flush(&mut self) {
        loop {
            let mut busy = false;
            while let Some((id, action)) = self.client.poll_action() {
                busy = true;
                match action {
                    Action::Transmit(m) => self.put(Dir::ToServer, m),
                    action => {
                        let (branch, _) = self.client_branches[&id].clone();
                        match &action {
                            Action::SendAck { .. } => {
                                let ack = Bytes::from(format!("ACK {branch} client.test:5060"));
                                self.client.set_ack(self.now, id, ack).unwrap();
                            }
                            // The client TU ACKs a 2xx itself, in a new
                            // transaction (new branch): RFC 3261 13.2.2.4.
                            Action::Response {
                                status: 200..=299, ..
                            } if self.client_branches[&id].1 == "INVITE" => {
                                let ack = format!("ACK {branch}-ack client.test:5060");
                                self.put(Dir::ToServer, Bytes::from(ack));
                            }
                            _ => {}
                        }
                        self.client_tu.push(action);
                    }
                }
            }
            while let Some((_, action)) = self.server.poll_action() {
                busy = true;
                match action {
                    Action::Transmit(m) => self.put(Dir::ToClient, m),
                    action => {
                        if matches!(action, Action::Ack(_)) {
                            self.tu_2xx = None;
                        }
                        self.server_tu.push(action);
                    }
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn deliver(&mut self, dir: Dir, m: Bytes) {
        let t = text(&m);
        let parts: Vec<&str> = t.split(' ').collect();
        match dir {
            Dir::ToServer => {
                let (method, branch, sent_by) = (parts[0], parts[1], parts[2]);
                let kind = kind_of(method);
                let key = TransactionKey::server(branch, sent_by, kind);
                let matched = self.server.handle_request(self.now, &key, kind, m).unwrap();
                if matched.is_some() {
                    return;
                }
                self.server_core.push(t.clone());
                if kind == Kind::Ack {
                    self.tu_2xx = None;
                    return;
                }
                let id = if kind == Kind::Invite {
                    let trying = Bytes::from(format!("SIP/2.0 100 {branch} {method}"));
                    self.server
                        .start_server_invite(self.now, key, trying, self.transport)
                } else {
                    self.server
                        .start_server_non_invite(self.now, key, self.transport)
                }
                .unwrap();
                for status in self.answers.clone() {
                    let response = Bytes::from(format!("SIP/2.0 {status} {branch} {method}"));
                    self.server
                        .send_response(self.now, id, status, response.clone())
                        .unwrap();
                    if kind == Kind::Invite && (200..300).contains(&status) {
                        let t1 = self.config.t1;
                        self.tu_2xx = Some((self.now + t1, t1, id, response));
                    }
                }
            }
            Dir::ToClient => {
                let status: u16 = parts[1].parse().unwrap();
                let key = TransactionKey::client(parts[2], kind_of(parts[3]));
                let matched = self
                    .client
                    .handle_response(self.now, &key, status, m)
                    .unwrap();
                if matched.is_none() {
                    self.client_core.push(t);
                }
            }
        }
    }

    /// Runs until nothing is in flight and no timer is armed.
    fn drive(&mut self) {
        self.flush();
        for _ in 0..10_000 {
            let next = [
                self.in_flight.front().map(|f| f.0),
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.tu_2xx.as_ref().map(|r| r.0),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return };
            assert!(next >= self.now, "time never runs backwards");
            self.now = next;
            while self.in_flight.front().is_some_and(|f| f.0 <= self.now) {
                let (_, dir, m) = self.in_flight.pop_front().unwrap();
                self.deliver(dir, m);
                self.flush();
            }
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            if let Some((at, interval, id, m)) = self.tu_2xx.clone() {
                if at <= self.now {
                    self.tu_2xx = match self.server.send_response(self.now, id, 200, m.clone()) {
                        Ok(()) => {
                            let interval = (interval * 2).min(self.config.t2);
                            Some((self.now + interval, interval, id, m))
                        }
                        Err(_) => None,
                    };
                }
            }
            self.flush();
        }
        panic!("did not settle");
    }

    fn on_wire(&self, dir: Dir, prefix: &str) -> usize {
        self.wire
            .iter()
            .filter(|(d, t, _)| *d == dir && t.starts_with(prefix))
            .count()
    }

    fn responses(&self) -> Vec<u16> {
        self.client_tu
            .iter()
            .filter_map(|a| match a {
                Action::Response { status, .. } => Some(*status),
                _ => None,
            })
            .collect()
    }

    fn assert_done(&self) {
        assert!(self.client.is_empty() && self.server.is_empty());
        assert_eq!(self.client.armed_timers() + self.server.armed_timers(), 0);
        assert!(self
            .client_tu
            .iter()
            .all(|a| !matches!(a, Action::Timeout(_))));
        assert!(self
            .server_tu
            .iter()
            .all(|a| !matches!(a, Action::Timeout(_))));
        assert!(self.now > self.t0);
    }
}

#[test]
fn rfc3261_17_1_2_lossy_udp_every_other_datagram_non_invite_completes_once() {
    let loss: Loss = Box::new(|_, n, _| n % 2 == 0);
    let mut pair = Pair::new(Transport::Unreliable, &[200], loss);
    pair.send_request("OPTIONS", "z9hG4bKopt1");
    pair.drive();
    // The TUs each saw the exchange once although it crossed the link
    // several times.
    assert_eq!(pair.responses(), vec![200]);
    assert_eq!(
        pair.server_core,
        vec!["OPTIONS z9hG4bKopt1 client.test:5060"]
    );
    assert!(pair.on_wire(Dir::ToServer, "OPTIONS") >= 2);
    assert!(pair.on_wire(Dir::ToClient, "SIP/2.0 200") >= 2);
    assert!(pair.client_core.is_empty());
    pair.assert_done();
}

#[test]
fn rfc3261_17_1_2_reliable_transport_sends_each_message_once() {
    let mut pair = Pair::new(Transport::Reliable, &[200], Box::new(|_, _, _| false));
    pair.send_request("REGISTER", "z9hG4bKreg1");
    pair.drive();
    assert_eq!(pair.wire.len(), 2);
    assert_eq!(pair.responses(), vec![200]);
    // Timers J and K are zero on reliable transports.
    assert_eq!(pair.now, pair.t0 + ms(20));
    pair.assert_done();
}

#[test]
fn rfc3261_17_1_1_lossy_udp_invite_rejected_ack_retransmitted() {
    // Drop the first two INVITEs and the first ACK.
    let mut acks = 0;
    let loss: Loss = Box::new(move |dir, n, t| {
        if dir == Dir::ToServer && t.starts_with("ACK") {
            acks += 1;
            return acks == 1;
        }
        dir == Dir::ToServer && n < 2
    });
    let mut pair = Pair::new(Transport::Unreliable, &[180, 486], loss);
    pair.send_request("INVITE", "z9hG4bKinv1");
    pair.drive();
    assert_eq!(pair.on_wire(Dir::ToServer, "INVITE"), 3);
    assert_eq!(
        pair.server_core,
        vec!["INVITE z9hG4bKinv1 client.test:5060"]
    );
    // The client TU saw the 486 once and built one ACK ...
    assert_eq!(pair.responses(), vec![180, 486]);
    assert_eq!(
        pair.client_tu
            .iter()
            .filter(|a| matches!(a, Action::SendAck { .. }))
            .count(),
        1
    );
    // ... which the transaction sent twice: the lost one, and again when
    // Timer G brought the 486 back.
    assert_eq!(pair.on_wire(Dir::ToServer, "ACK"), 2);
    assert_eq!(pair.on_wire(Dir::ToClient, "SIP/2.0 486"), 2);
    // The server got its ACK: Timer I, not Timer H, ended it.
    pair.assert_done();
}

#[test]
fn rfc6026_lossy_udp_2xx_retransmitted_by_tu_invite_retransmissions_absorbed() {
    // Drop the 200 and the TU's first retransmission of it.
    let loss: Loss = Box::new(|dir, n, _| dir == Dir::ToClient && n < 2);
    let mut pair = Pair::new(Transport::Unreliable, &[200], loss);
    pair.send_request("INVITE", "z9hG4bKinv2");
    pair.drive();
    // Timer A retransmitted the INVITE while the 200s were lost; the server
    // in Accepted absorbed those (the core saw one INVITE).
    assert!(pair.on_wire(Dir::ToServer, "INVITE") >= 2);
    assert_eq!(
        pair.server_core,
        vec![
            "INVITE z9hG4bKinv2 client.test:5060",
            "ACK z9hG4bKinv2-ack client.test:5060"
        ]
    );
    assert_eq!(pair.on_wire(Dir::ToClient, "SIP/2.0 200"), 3);
    assert_eq!(pair.responses(), vec![200]);
    pair.assert_done();
}

#[test]
fn rfc6026_late_ack_every_2xx_retransmission_reaches_client_tu() {
    // Drop the first two ACKs: the server TU keeps retransmitting its 2xx,
    // and the client transaction in Accepted passes each one up.
    let mut acks = 0;
    let loss: Loss = Box::new(move |_, _, t| {
        if t.starts_with("ACK") {
            acks += 1;
            return acks <= 2;
        }
        false
    });
    let mut pair = Pair::new(Transport::Unreliable, &[200], loss);
    pair.send_request("INVITE", "z9hG4bKinv3");
    pair.drive();
    let delivered_2xx = pair.on_wire(Dir::ToClient, "SIP/2.0 200");
    assert_eq!(delivered_2xx, 3);
    assert_eq!(pair.responses(), vec![200; 3]);
    assert_eq!(pair.on_wire(Dir::ToServer, "ACK"), 3);
    assert_eq!(pair.server_core.len(), 2);
    pair.assert_done();
}
