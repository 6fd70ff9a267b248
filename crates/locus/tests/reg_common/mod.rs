//! A small SIP client for the registrar and reg event tests: REGISTER with
//! digest (any algorithm, through `sip-digest`), SUBSCRIBE, and NOTIFYs
//! answered and collected, over UDP or TCP. Bounded waits only.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sip_digest::{respond, Algorithm, Challenge};

/// A received SIP message, split into start line, headers and body.
#[derive(Debug, Clone)]
pub struct Msg {
    /// The start line.
    pub start: String,
    /// Header lines as (name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Msg {
    fn parse(bytes: &[u8]) -> Option<(Msg, usize)> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let start = lines.next()?.to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length") || n == "l")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let total = end + 4 + len;
        if bytes.len() < total {
            return None;
        }
        Some((
            Msg {
                start,
                headers,
                body: bytes[end + 4..total].to_vec(),
            },
            total,
        ))
    }

    /// The status code of a response (0 for a request).
    pub fn status(&self) -> u16 {
        self.start
            .strip_prefix("SIP/2.0 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Whether it is a request with this method.
    pub fn is(&self, method: &str) -> bool {
        self.start.starts_with(&format!("{method} "))
    }

    /// The first header of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    /// Every header of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The text of the message, for failure messages.
    pub fn text(&self) -> String {
        let mut s = self.start.clone();
        for (n, v) in &self.headers {
            s.push_str(&format!("\r\n{n}: {v}"));
        }
        s
    }
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream, Vec<u8>),
}

/// A SIP user agent on loopback.
pub struct Client {
    conn: Conn,
    /// The server.
    pub server: SocketAddr,
    /// Our address (Via, Contact).
    pub local: SocketAddr,
    /// NOTIFYs received (and answered 200) so far, in order.
    pub notifies: Vec<Msg>,
    /// Responses received while waiting for something else.
    pending: Vec<Msg>,
    branch: u64,
}

impl Client {
    /// A UDP client talking to `server`.
    pub fn udp(server: SocketAddr) -> Client {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let local = s.local_addr().unwrap();
        Client::new(Conn::Udp(s), server, local)
    }

    /// A TCP client connected to `server`.
    pub fn tcp(server: SocketAddr) -> Client {
        let s = TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("connect");
        let local = s.local_addr().unwrap();
        Client::new(Conn::Tcp(s, Vec::new()), server, local)
    }

    fn new(conn: Conn, server: SocketAddr, local: SocketAddr) -> Client {
        Client {
            conn,
            server,
            local,
            notifies: Vec::new(),
            pending: Vec::new(),
            branch: 0,
        }
    }

    fn transport(&self) -> &'static str {
        match self.conn {
            Conn::Udp(_) => "UDP",
            Conn::Tcp(..) => "TCP",
        }
    }

    /// Sends raw text.
    pub fn send(&mut self, text: &str) {
        match &mut self.conn {
            Conn::Udp(s) => {
                s.send_to(text.as_bytes(), self.server).expect("send");
            }
            Conn::Tcp(s, _) => s.write_all(text.as_bytes()).expect("send"),
        }
    }

    fn recv_raw(&mut self, until: Instant) -> Option<Msg> {
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            let left = left.max(Duration::from_millis(1));
            match &mut self.conn {
                Conn::Udp(s) => {
                    s.set_read_timeout(Some(left)).unwrap();
                    let mut buf = vec![0u8; 65_536];
                    match s.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            if let Some((m, _)) = Msg::parse(&buf[..n]) {
                                return Some(m);
                            }
                        }
                        Err(_) => return None,
                    }
                }
                Conn::Tcp(s, acc) => {
                    if let Some((m, used)) = Msg::parse(acc) {
                        acc.drain(..used);
                        return Some(m);
                    }
                    s.set_read_timeout(Some(left)).unwrap();
                    let mut buf = vec![0u8; 65_536];
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => acc.extend_from_slice(&buf[..n]),
                    }
                }
            }
        }
    }

    /// Answers a NOTIFY with 200 (or `status`).
    fn answer(&mut self, req: &Msg, status: u16) {
        let mut s = format!("SIP/2.0 {status} OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for v in req.all(name) {
                s.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        self.send(&s);
    }

    /// The next message that is not a NOTIFY (NOTIFYs are answered 200 and
    /// kept), within 5 s.
    pub fn recv_response(&mut self) -> Msg {
        if !self.pending.is_empty() {
            return self.pending.remove(0);
        }
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let m = self
                .recv_raw(until)
                .expect("no response from locus within 5 s");
            if m.is("NOTIFY") {
                self.answer(&m, 200);
                self.notifies.push(m);
            } else {
                return m;
            }
        }
    }

    /// Waits (at most `secs`) until `done(notifies)` holds, answering every
    /// NOTIFY with `status`.
    pub fn wait_notifies(&mut self, secs: u64, status: u16, done: impl Fn(&[Msg]) -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(secs);
        while !done(&self.notifies) {
            let Some(m) = self.recv_raw(until) else {
                return false;
            };
            if m.is("NOTIFY") {
                self.answer(&m, status);
                self.notifies.push(m);
            } else {
                self.pending.push(m);
            }
        }
        true
    }

    fn next_branch(&mut self) -> String {
        self.branch += 1;
        format!("z9hG4bKtest{}x{}", self.local.port(), self.branch)
    }

    /// A REGISTER for `sip:AOR_USER@HOST` (HOST = the server's IP).
    #[allow(clippy::too_many_arguments)]
    pub fn register_request(
        &mut self,
        aor_user: &str,
        contact: &str,
        expires: u32,
        call_id: &str,
        cseq: u32,
        auth: Option<&str>,
    ) -> String {
        let host = self.server.ip();
        let branch = self.next_branch();
        let mut s = format!(
            "REGISTER sip:{server} SIP/2.0\r\n\
             Via: SIP/2.0/{t} {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{aor_user}@{host}>;tag=t{cseq}\r\n\
             To: <sip:{aor_user}@{host}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: {contact}\r\n\
             Expires: {expires}\r\n",
            server = self.server,
            t = self.transport(),
            local = self.local,
        );
        if let Some(a) = auth {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        s
    }

    /// REGISTER, answer the 401 with `alg` as `user`/`password`; returns
    /// the 401 and the final response.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        aor_user: &str,
        user: &str,
        password: &str,
        alg: Algorithm,
        contact: &str,
        expires: u32,
        call_id: &str,
    ) -> (Msg, Msg) {
        let req = self.register_request(aor_user, contact, expires, call_id, 1, None);
        self.send(&req);
        let challenge = self.recv_response();
        assert_eq!(challenge.status(), 401, "{}", challenge.text());
        let offered: Vec<Challenge> = challenge
            .all("WWW-Authenticate")
            .into_iter()
            .map(|v| Challenge::parse(v).expect("challenge"))
            .collect();
        let ch = offered
            .iter()
            .find(|c| c.algorithm == alg)
            .unwrap_or_else(|| panic!("{alg} not offered: {}", challenge.text()));
        let uri = format!("sip:{}", self.server);
        let creds = respond(ch, "REGISTER", &uri, user, password, "abcdef", 1, None).unwrap();
        let req = self.register_request(
            aor_user,
            contact,
            expires,
            call_id,
            2,
            Some(&creds.to_string()),
        );
        self.send(&req);
        let fin = self.recv_response();
        (challenge, fin)
    }

    /// A SUBSCRIBE for the reg event to `ruri`, outside any dialog.
    pub fn subscribe(&mut self, ruri: &str, event: &str, expires: u32, call_id: &str) -> Msg {
        let branch = self.next_branch();
        let req = format!(
            "SUBSCRIBE {ruri} SIP/2.0\r\n\
             Via: SIP/2.0/{t} {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:e911@{local_ip}>;tag=sub1\r\n\
             To: <{ruri}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 SUBSCRIBE\r\n\
             Contact: <sip:e911@{local};transport={tl}>\r\n\
             Event: {event}\r\n\
             Accept: application/reginfo+xml\r\n\
             Expires: {expires}\r\n\
             Content-Length: 0\r\n\r\n",
            t = self.transport(),
            tl = self.transport().to_ascii_lowercase(),
            local = self.local,
            local_ip = self.local.ip(),
        );
        self.send(&req);
        self.recv_response()
    }
}

/// The reginfo documents of `notifies`, parsed.
pub fn reginfo_docs(notifies: &[Msg]) -> Vec<reginfo::RegInfo> {
    notifies
        .iter()
        .filter(|n| !n.body.is_empty())
        .map(|n| reginfo::RegInfo::parse(&n.body).expect("reginfo body"))
        .collect()
}

/// `[[sip.users]]` entries `user0..userN` with password `pw-userI`.
pub fn users_toml(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "[[sip.users]]\nusername = \"user{i}\"\npassword = \"pw-user{i}\"\n"
        ));
    }
    s
}
