//! The floor under a UDP SIP server: the least CPU a process can spend per
//! OPTIONS when it does nothing but receive the datagram and send back a
//! fixed 200 OK (Via, From, To, Call-ID and CSeq copied, a To tag added).
//! `bench/options_floor.sh` loads it with SIPp and reads its CPU time from
//! `/proc`; what Locus spends above this is Locus's, the rest the kernel's.
//!
//! ```sh
//! cargo build --release -p locus-bench --bin udp_floor
//! target/release/udp_floor MODE 127.0.0.1:15970 [BATCH [PACE_US]]
//! ```
//!
//! MODE is how datagrams move between the socket and the process:
//!
//! - `plain`: blocking `recv_from` and `send_to`, one datagram per syscall;
//! - `mmsg`: blocking `recvmmsg` (up to BATCH datagrams, default 64, the
//!   first waited for and the rest taken if already queued) and one
//!   `sendmmsg` for the answers;
//! - `tokio`: a current-thread tokio runtime, `UdpSocket::recv_from` and
//!   `send_to` awaited per datagram;
//! - `tokio-mmsg`: the same runtime, `recvmmsg` and `sendmmsg` through
//!   `UdpSocket::try_io` on each readiness event;
//! - `mmsg-paced`: `mmsg`, sleeping PACE_US (default 1000) after each batch
//!   so that datagrams queue up meanwhile: the kernel's cost per datagram
//!   without one sleep and wake-up per batch of two or three, bought with up
//!   to PACE_US of added latency.
//!
//! Every second with traffic it prints one line of cumulative counters
//! (`datagrams=N recv_calls=N send_calls=N`) so that the script can tell the
//! datagrams taken per receive call.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Largest datagram taken whole; SIPp's OPTIONS is about 400 bytes.
const BUF: usize = 4096;

/// Cumulative counters, printed by a reporting thread.
#[derive(Default)]
struct Counters {
    datagrams: AtomicU64,
    recv_calls: AtomicU64,
    send_calls: AtomicU64,
}

impl Counters {
    fn add(&self, datagrams: usize, recv_calls: u64, send_calls: u64) {
        self.datagrams
            .fetch_add(datagrams as u64, Ordering::Relaxed);
        self.recv_calls.fetch_add(recv_calls, Ordering::Relaxed);
        self.send_calls.fetch_add(send_calls, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Mmsg,
    MmsgPaced,
    Tokio,
    TokioMmsg,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: udp_floor plain|mmsg|tokio|tokio-mmsg|mmsg-paced ADDR [BATCH [PACE_US]]";
    let mode = match args.get(1).map(String::as_str) {
        Some("plain") => Mode::Plain,
        Some("mmsg") => Mode::Mmsg,
        Some("tokio") => Mode::Tokio,
        Some("tokio-mmsg") => Mode::TokioMmsg,
        Some("mmsg-paced") => Mode::MmsgPaced,
        _ => exit(usage),
    };
    let addr: SocketAddr = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| exit(usage));
    let batch: usize = args
        .get(3)
        .map(|b| b.parse().unwrap_or_else(|_| exit(usage)))
        .unwrap_or(64)
        .clamp(1, 1024);
    let pace: u64 = args
        .get(4)
        .map(|p| p.parse().unwrap_or_else(|_| exit(usage)))
        .unwrap_or(1000);
    let sock = bind(addr, matches!(mode, Mode::Tokio | Mode::TokioMmsg))
        .unwrap_or_else(|e| exit(&format!("cannot bind {addr}: {e}")));

    let counters = Arc::new(Counters::default());
    let report = counters.clone();
    std::thread::spawn(move || {
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let d = report.datagrams.load(Ordering::Relaxed);
            if d != last {
                last = d;
                println!(
                    "datagrams={d} recv_calls={} send_calls={}",
                    report.recv_calls.load(Ordering::Relaxed),
                    report.send_calls.load(Ordering::Relaxed)
                );
            }
        }
    });

    let result = match mode {
        Mode::Plain => run_plain(&sock, &counters),
        Mode::Mmsg => run_mmsg(&sock, batch, None, &counters),
        Mode::MmsgPaced => run_mmsg(&sock, batch, Some(Duration::from_micros(pace)), &counters),
        Mode::Tokio | Mode::TokioMmsg => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .and_then(|rt| {
                rt.block_on(async {
                    let sock = tokio::net::UdpSocket::from_std(sock)?;
                    if mode == Mode::Tokio {
                        run_tokio(&sock, &counters).await
                    } else {
                        run_tokio_mmsg(&sock, batch, &counters).await
                    }
                })
            }),
    };
    if let Err(e) = result {
        exit(&format!("udp_floor: {e}"));
    }
}

fn exit(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// A UDP socket with the 4 MiB receive buffer Locus asks for.
fn bind(addr: SocketAddr, nonblocking: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(4 * 1024 * 1024)?;
    socket.set_nonblocking(nonblocking)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Writes into `out` a 200 OK for the request `req`, copying its Via, From,
/// To (with a tag added), Call-ID and CSeq lines. False for anything that is
/// not a request with a Call-ID (answered by silence).
fn answer(req: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if req.starts_with(b"SIP/") {
        return false;
    }
    out.extend_from_slice(b"SIP/2.0 200 OK\r\n");
    let mut call_id = false;
    for line in req.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"Via") || is(b"v") || is(b"From") || is(b"f") || is(b"CSeq") {
            out.extend_from_slice(line);
        } else if is(b"Call-ID") || is(b"i") {
            out.extend_from_slice(line);
            call_id = true;
        } else if is(b"To") || is(b"t") {
            out.extend_from_slice(line);
            out.extend_from_slice(b";tag=floor");
        } else {
            continue;
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    call_id
}

fn run_plain(sock: &UdpSocket, counters: &Counters) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF);
    loop {
        let (n, from) = sock.recv_from(&mut buf)?;
        let sent = answer(&buf[..n], &mut out);
        if sent {
            sock.send_to(&out, from)?;
        }
        counters.add(1, 1, u64::from(sent));
    }
}

async fn run_tokio(sock: &tokio::net::UdpSocket, counters: &Counters) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF);
    loop {
        let (n, from) = sock.recv_from(&mut buf).await?;
        let sent = answer(&buf[..n], &mut out);
        if sent {
            sock.send_to(&out, from).await?;
        }
        counters.add(1, 1, u64::from(sent));
    }
}

fn run_mmsg(
    sock: &UdpSocket,
    batch: usize,
    pace: Option<Duration>,
    counters: &Counters,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let mut b = mmsg::Batch::new(batch, BUF);
    loop {
        // Blocks for the first datagram only, then takes what is queued.
        let n = b.recv(fd, libc::MSG_WAITFORONE)?;
        let answers = b.answer_all(n);
        let mut sent = 0;
        let mut calls = 0;
        while sent < answers {
            sent += b.send(fd, sent, answers, 0)?;
            calls += 1;
        }
        counters.add(n, 1, calls);
        if let Some(pace) = pace {
            std::thread::sleep(pace);
        }
    }
}

async fn run_tokio_mmsg(
    sock: &tokio::net::UdpSocket,
    batch: usize,
    counters: &Counters,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    let fd = sock.as_raw_fd();
    let mut b = mmsg::Batch::new(batch, BUF);
    loop {
        sock.readable().await?;
        let mut n = 0;
        let r = sock.try_io(Interest::READABLE, || {
            n = b.recv(fd, libc::MSG_DONTWAIT)?;
            // Fewer than asked: the queue ran dry, so clear the readiness
            // now (tokio keeps any newer event) instead of learning it from
            // one more call that fails with EAGAIN.
            if n < batch {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        let answers = b.answer_all(n);
        let mut sent = 0;
        let mut calls = 0;
        while sent < answers {
            match sock.try_io(Interest::WRITABLE, || {
                b.send(fd, sent, answers, libc::MSG_DONTWAIT)
            }) {
                Ok(k) => {
                    sent += k;
                    calls += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => sock.writable().await?,
                Err(e) => return Err(e),
            }
        }
        counters.add(n, 1, calls);
    }
}

/// `recvmmsg(2)` and `sendmmsg(2)` over a fixed set of buffers.
mod mmsg {
    use std::io;
    use std::os::fd::RawFd;

    /// Buffers and headers for up to `len` datagrams in and out.
    pub(crate) struct Batch {
        bufs: Vec<Vec<u8>>,
        lens: Vec<usize>,
        addrs: Vec<libc::sockaddr_storage>,
        addr_lens: Vec<libc::socklen_t>,
        outs: Vec<Vec<u8>>,
        /// Slot of each answer, in sending order.
        order: Vec<usize>,
        iovs: Vec<libc::iovec>,
        hdrs: Vec<libc::mmsghdr>,
    }

    impl Batch {
        pub(crate) fn new(len: usize, buf: usize) -> Self {
            // SAFETY: all-zero is a valid sockaddr_storage, iovec and mmsghdr
            // (plain C structs of integers and null pointers).
            let (addr, iov, hdr) = unsafe_zeroed();
            Self {
                bufs: vec![vec![0; buf]; len],
                lens: vec![0; len],
                addrs: vec![addr; len],
                addr_lens: vec![0; len],
                outs: vec![Vec::with_capacity(buf); len],
                order: Vec::with_capacity(len),
                iovs: vec![iov; len],
                hdrs: vec![hdr; len],
            }
        }

        /// Receives up to the batch size; `flags` as for `recvmmsg`.
        pub(crate) fn recv(&mut self, fd: RawFd, flags: libc::c_int) -> io::Result<usize> {
            for (i, buf) in self.bufs.iter_mut().enumerate() {
                self.iovs[i] = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                let h = &mut self.hdrs[i].msg_hdr;
                h.msg_name = (&raw mut self.addrs[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &raw mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            let n = recvmmsg(fd, &mut self.hdrs, flags)?;
            for i in 0..n {
                self.lens[i] = self.hdrs[i].msg_len as usize;
                self.addr_lens[i] = self.hdrs[i].msg_hdr.msg_namelen;
            }
            Ok(n)
        }

        /// Builds the answers to the first `n` datagrams received; returns
        /// how many there are to send.
        pub(crate) fn answer_all(&mut self, n: usize) -> usize {
            self.order.clear();
            for i in 0..n {
                if super::answer(&self.bufs[i][..self.lens[i]], &mut self.outs[i]) {
                    self.order.push(i);
                }
            }
            self.order.len()
        }

        /// Sends answers `from..to` in one `sendmmsg`; returns how many went.
        pub(crate) fn send(
            &mut self,
            fd: RawFd,
            from: usize,
            to: usize,
            flags: libc::c_int,
        ) -> io::Result<usize> {
            for (k, &i) in self.order[from..to].iter().enumerate() {
                self.iovs[k] = libc::iovec {
                    iov_base: self.outs[i].as_mut_ptr().cast(),
                    iov_len: self.outs[i].len(),
                };
                let h = &mut self.hdrs[k].msg_hdr;
                h.msg_name = (&raw mut self.addrs[i]).cast();
                h.msg_namelen = self.addr_lens[i];
                h.msg_iov = &raw mut self.iovs[k];
                h.msg_iovlen = 1;
            }
            sendmmsg(fd, &mut self.hdrs[..to - from], flags)
        }
    }

    fn unsafe_zeroed() -> (libc::sockaddr_storage, libc::iovec, libc::mmsghdr) {
        #[allow(unsafe_code, reason = "C structs for recvmmsg; zero is valid for each")]
        // SAFETY: sockaddr_storage, iovec and mmsghdr are C structs of
        // integers and pointers, for which all-zero bytes are a valid value.
        unsafe {
            (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed())
        }
    }

    /// `recvmmsg(2)` into `hdrs`, whose buffers and addresses must be set.
    fn recvmmsg(fd: RawFd, hdrs: &mut [libc::mmsghdr], flags: libc::c_int) -> io::Result<usize> {
        #[allow(unsafe_code, reason = "the syscall has no safe wrapper in libc")]
        // SAFETY: each header points at a live buffer of the length its iovec
        // says and at a sockaddr_storage with msg_namelen set to its size,
        // all owned by the Batch borrowed mutably for the whole call; the
        // count is the slice's length; no timeout pointer.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// `sendmmsg(2)` of `hdrs`, whose buffers and addresses must be set.
    fn sendmmsg(fd: RawFd, hdrs: &mut [libc::mmsghdr], flags: libc::c_int) -> io::Result<usize> {
        #[allow(unsafe_code, reason = "the syscall has no safe wrapper in libc")]
        // SAFETY: each header points at a live, initialized buffer of the
        // length its iovec says and at an address of msg_namelen bytes, all
        // owned by the Batch borrowed mutably for the whole call; the count
        // is the slice's length.
        let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, flags) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}
