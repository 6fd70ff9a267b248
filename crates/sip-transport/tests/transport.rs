//! Real sockets on 127.0.0.1, ephemeral ports. Each test is named after the
//! rule it proves: design rules C2 and C3, RFC 3261 section 18, RFC 5626
//! section 3.5.1. Results are awaited under `tokio::time::timeout` bounds;
//! the only sleeps are the pauses between segment writes.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sip_transport::{
    Endpoint, Error, Event, FrameError, Inbound, InboundError, ListenAddr, Outbound, StreamError,
    Transport, TransportConfig,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;
use tokio::time::{sleep, timeout};

/// Bound on waiting for anything that should happen at once.
const WAIT: Duration = Duration::from_secs(5);
/// Pause between segment writes, so that each write is one read on loopback
/// (TCP_NODELAY on both sides); generous for a loaded 2-core machine.
const PAUSE: Duration = Duration::from_millis(40);

fn options(body: &str) -> String {
    format!(
        "OPTIONS sip:locus@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:test@127.0.0.1>;tag=1\r\n\
         To: <sip:locus@127.0.0.1>\r\n\
         Call-ID: {}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        body.len(),
        body.len(),
        body
    )
}

const RESPONSE: &str = "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

async fn endpoint(config: TransportConfig, addrs: &[&str]) -> (Endpoint, Receiver<Event>) {
    let listen: Vec<ListenAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    Endpoint::bind(config, &listen).await.unwrap()
}

async fn tcp_endpoint(config: TransportConfig) -> (Endpoint, Receiver<Event>, SocketAddr) {
    let (ep, rx) = endpoint(config, &["tcp:127.0.0.1:0"]).await;
    let addr = ep.local_addr(Transport::Tcp).unwrap();
    (ep, rx, addr)
}

async fn next_event(rx: &mut Receiver<Event>) -> Event {
    timeout(WAIT, rx.recv())
        .await
        .expect("no event in time")
        .expect("event channel closed")
}

async fn next_message(rx: &mut Receiver<Event>) -> Inbound {
    match next_event(rx).await {
        Event::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn next_error(rx: &mut Receiver<Event>) -> InboundError {
    match next_event(rx).await {
        Event::Error(e) => e,
        other => panic!("expected a framing error, got {other:?}"),
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Writes `msg` in `n` pieces with a pause between them. Errors are
/// returned, not unwrapped: a reset connection may refuse the last pieces.
async fn write_in_segments<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &[u8],
    n: usize,
) -> io::Result<()> {
    let size = msg.len().div_ceil(n);
    for (i, piece) in msg.chunks(size).enumerate() {
        if i > 0 {
            sleep(PAUSE).await;
        }
        w.write_all(piece).await?;
        w.flush().await?;
    }
    assert_eq!(
        msg.chunks(size).count(),
        n,
        "message too short to cut in {n}"
    );
    Ok(())
}

/// Reads until EOF or error, bounded; returns what was read and how it ended.
async fn read_to_close<R: AsyncRead + Unpin>(r: &mut R) -> (Vec<u8>, io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = timeout(WAIT, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("connection not closed in time");
    (got, end)
}

// ---- C3: the 4-segment rule -------------------------------------------------

#[tokio::test]
async fn c3_three_segments_pass() {
    let (_ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    let msg = options("v=0\r\n");
    write_in_segments(&mut client, msg.as_bytes(), 3)
        .await
        .unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!(m.bytes, msg.as_bytes());
    assert_eq!(m.transport, Transport::Tcp);
    assert_eq!(m.source, client.local_addr().unwrap());
    assert_eq!(m.local, addr);
    assert!(m.conn.is_some());
}

#[tokio::test]
async fn c3_four_segments_pass_if_complete_on_fourth() {
    let (ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    let msg = options("");
    write_in_segments(&mut client, msg.as_bytes(), 4)
        .await
        .unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!(m.bytes, msg.as_bytes());
    // The connection stays usable: a second message in one write passes too.
    client.write_all(msg.as_bytes()).await.unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, msg.as_bytes());
    assert_eq!(ep.stats().segment_resets, 0);
}

#[tokio::test]
async fn c3_five_segments_reset() {
    let (ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    let msg = options("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n");
    // The fifth piece may already meet the reset.
    let _ = write_in_segments(&mut client, msg.as_bytes(), 5).await;
    let (_, end) = read_to_close(&mut client).await;
    // ECONNRESET, or EOF if a failed write already consumed the RST.
    if let Err(e) = end {
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }
    // The reset came from the task that would have delivered the message.
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(ep.stats().segment_resets, 1);
}

#[tokio::test]
async fn c3_one_large_write_counts_as_one_segment() {
    // 16 KB arrives in one go but takes several reads of the 4 KiB room.
    let (ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    let msg = options(&"a=x\r\n".repeat(3_400));
    assert!(msg.len() > 16_000);
    for _ in 0..3 {
        client.write_all(msg.as_bytes()).await.unwrap();
        assert_eq!(next_message(&mut rx).await.bytes, msg.as_bytes());
    }
    assert_eq!(ep.stats().segment_resets, 0);
}

#[tokio::test]
async fn c3_tls_five_segments_reset_and_three_pass() {
    let pki = TestPki::new("c3tls");
    let (ep, mut rx) = endpoint(pki.server_config(), &["tls:127.0.0.1:0"]).await;
    let addr = ep.local_addr(Transport::Tls).unwrap();

    let mut ok = pki.connect(addr).await;
    let msg = options("abc");
    write_in_segments(&mut ok, msg.as_bytes(), 3).await.unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!(
        (m.bytes.as_ref(), m.transport),
        (msg.as_bytes(), Transport::Tls)
    );

    let mut bad = pki.connect(addr).await;
    let _ = write_in_segments(&mut bad, msg.as_bytes(), 5).await;
    let (_, end) = read_to_close(&mut bad).await;
    if let Err(e) = end {
        // rustls reports the RST, or the close without close_notify.
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
            ),
            "{e}"
        );
    }
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(ep.stats().segment_resets, 1);
}

// ---- RFC 3261 section 18.3: framing on streams ----------------------------

#[tokio::test]
async fn rfc3261_18_3_pipelined_messages_are_two_events() {
    let (_ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    let (a, b) = (options("first"), options("second!"));
    client
        .write_all(format!("{a}{b}").as_bytes())
        .await
        .unwrap();
    let ma = next_message(&mut rx).await;
    let mb = next_message(&mut rx).await;
    assert_eq!(ma.bytes, a.as_bytes());
    assert_eq!(mb.bytes, b.as_bytes());
    assert_eq!(ma.conn, mb.conn);
}

#[tokio::test]
async fn rfc5626_3_5_1_crlf_ping_gets_crlf_pong() {
    let (_ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    client.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    timeout(WAIT, client.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    // A ping before a message in the same write: pong, then the message.
    let msg = options("");
    client
        .write_all(format!("\r\n\r\n{msg}").as_bytes())
        .await
        .unwrap();
    timeout(WAIT, client.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, msg.as_bytes());
}

#[tokio::test]
async fn rfc3261_18_3_missing_content_length_is_reported_answered_and_closed() {
    let (ep, mut rx, addr) = tcp_endpoint(TransportConfig::default()).await;
    let mut client = connect(addr).await;
    let bad = "OPTIONS sip:locus@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    client.write_all(bad.as_bytes()).await.unwrap();
    let err = next_error(&mut rx).await;
    assert_eq!(
        err.error,
        StreamError::Frame(FrameError::MissingContentLength)
    );
    assert!(!err.error.is_too_large());
    assert_eq!(err.bytes, bad.as_bytes());
    assert_eq!(err.transport, Transport::Tcp);
    // The server answers 400 on that connection, which then closes.
    let reply = "SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    ep.send(Outbound::reply_to_error(&err, Bytes::from(reply)))
        .await
        .unwrap();
    let (got, end) = read_to_close(&mut client).await;
    assert_eq!(got, reply.as_bytes());
    end.unwrap();
}

#[tokio::test]
async fn rfc3261_18_3_negative_content_length_is_reported_and_closed() {
    let config = TransportConfig {
        error_reply_grace: Duration::from_millis(100),
        ..Default::default()
    };
    let (ep, mut rx, addr) = tcp_endpoint(config).await;
    let mut client = connect(addr).await;
    let bad = "INVITE sip:locus@127.0.0.1 SIP/2.0\r\nContent-Length: -999\r\n\r\n";
    client.write_all(bad.as_bytes()).await.unwrap();
    let err = next_error(&mut rx).await;
    assert_eq!(err.error, StreamError::Frame(FrameError::BadContentLength));
    // Nobody answers: the connection closes after the grace period.
    let (got, end) = read_to_close(&mut client).await;
    assert!(got.is_empty());
    end.unwrap();
    assert_eq!(ep.stats().connections, 0);
}

#[tokio::test]
async fn rfc3261_18_3_oversize_message_is_reported_for_513_and_closed() {
    let config = TransportConfig {
        max_message_bytes: 1000,
        error_reply_grace: Duration::from_millis(100),
        ..Default::default()
    };
    let (_ep, mut rx, addr) = tcp_endpoint(config).await;

    // Announced too large by Content-Length.
    let mut client = connect(addr).await;
    let head = "MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 5000\r\n\r\n";
    client.write_all(head.as_bytes()).await.unwrap();
    let err = next_error(&mut rx).await;
    assert!(err.error.is_too_large(), "{:?}", err.error);
    let (_, end) = read_to_close(&mut client).await;
    end.unwrap();

    // Headers and body together over the limit.
    let mut client = connect(addr).await;
    let big = options(&"x".repeat(900));
    client.write_all(big.as_bytes()).await.unwrap();
    let err = next_error(&mut rx).await;
    assert!(err.error.is_too_large(), "{:?}", err.error);
    assert!(err.bytes.len() <= big.len());
    let (_, end) = read_to_close(&mut client).await;
    end.unwrap();

    // Still incomplete when the buffer passes the limit.
    let mut client = connect(addr).await;
    let big = options(&"y".repeat(990));
    client.write_all(&big.as_bytes()[..1100]).await.unwrap();
    let err = next_error(&mut rx).await;
    assert_eq!(err.error, StreamError::MessageTooLarge { limit: 1000 });
    let (_, end) = read_to_close(&mut client).await;
    end.unwrap();
}

// ---- RFC 3261 section 18: connections ----------------------------------------

#[tokio::test]
async fn rfc3261_18_idle_connection_is_closed() {
    let config = TransportConfig {
        idle_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let (ep, _rx, addr) = tcp_endpoint(config).await;
    let mut client = connect(addr).await;
    let started = tokio::time::Instant::now();
    let (got, end) = read_to_close(&mut client).await;
    assert!(got.is_empty());
    end.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(ep.stats().connections, 0);
}

#[tokio::test]
async fn rfc3261_18_tcp_request_and_response_share_one_connection() {
    let (server, mut server_rx, server_addr) = tcp_endpoint(TransportConfig::default()).await;
    let (client, mut client_rx, _) = tcp_endpoint(TransportConfig::default()).await;

    let req = options("");
    client
        .send(Outbound::new(
            Transport::Tcp,
            server_addr,
            Bytes::from(req.clone()),
        ))
        .await
        .unwrap();
    let got = next_message(&mut server_rx).await;
    assert_eq!(got.bytes, req.as_bytes());
    server
        .send(Outbound::reply_to(
            &got,
            Bytes::from_static(RESPONSE.as_bytes()),
        ))
        .await
        .unwrap();
    let resp = next_message(&mut client_rx).await;
    assert_eq!(resp.bytes, RESPONSE.as_bytes());
    assert_eq!(resp.source, server_addr);

    // A second request to the same address reuses the connection.
    client
        .send(Outbound::new(
            Transport::Tcp,
            server_addr,
            Bytes::from(req.clone()),
        ))
        .await
        .unwrap();
    assert_eq!(next_message(&mut server_rx).await.conn, got.conn);
    assert_eq!(client.stats().connections, 1);
    assert_eq!(server.stats().connections, 1);
}

#[tokio::test]
async fn rfc3261_18_connection_limits_refuse_new_connections() {
    let config = TransportConfig {
        max_connections: 1,
        ..Default::default()
    };
    let (ep, mut rx, addr) = tcp_endpoint(config).await;
    let mut first = connect(addr).await;
    first.write_all(options("").as_bytes()).await.unwrap();
    next_message(&mut rx).await;
    let mut second = connect(addr).await;
    let (got, _) = read_to_close(&mut second).await;
    assert!(got.is_empty());
    assert_eq!(ep.stats().refused_connections, 1);
    assert_eq!(ep.stats().connections, 1);

    // Per IP as well.
    let config = TransportConfig {
        max_connections_per_ip: 1,
        ..Default::default()
    };
    let (ep, mut rx, addr) = tcp_endpoint(config).await;
    let mut first = connect(addr).await;
    first.write_all(options("").as_bytes()).await.unwrap();
    next_message(&mut rx).await;
    let mut second = connect(addr).await;
    let (got, _) = read_to_close(&mut second).await;
    assert!(got.is_empty());
    assert_eq!(ep.stats().refused_connections, 1);
}

#[tokio::test]
async fn c2_shutdown_closes_connections_and_refuses_sends() {
    let (ep, mut rx) = endpoint(
        TransportConfig::default(),
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
    )
    .await;
    let addr = ep.local_addr(Transport::Tcp).unwrap();
    let mut client = connect(addr).await;
    client.write_all(options("").as_bytes()).await.unwrap();
    next_message(&mut rx).await;
    timeout(WAIT, ep.shutdown()).await.unwrap();
    let (_, end) = read_to_close(&mut client).await;
    end.unwrap();
    assert_eq!(ep.stats().connections, 0);
    let err = ep
        .send(Outbound::new(
            Transport::Tcp,
            addr,
            Bytes::from_static(b"x"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ShutDown), "{err}");
    assert!(TcpStream::connect(addr).await.is_err());
}

// ---- C2: UDP -------------------------------------------------------------------

#[tokio::test]
async fn c2_udp_datagram_delivered_with_source_and_answered_from_listening_port() {
    let (ep, mut rx) = endpoint(TransportConfig::default(), &["udp:127.0.0.1:0"]).await;
    let udp_addr = ep.local_addr(Transport::Udp).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A keep-alive datagram is skipped.
    client.send_to(b"\r\n\r\n", udp_addr).await.unwrap();
    let msg = options("");
    client.send_to(msg.as_bytes(), udp_addr).await.unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!(m.bytes, msg.as_bytes());
    assert_eq!(m.transport, Transport::Udp);
    assert_eq!(m.source, client.local_addr().unwrap());
    assert_eq!(m.local, udp_addr);
    assert_eq!(m.conn, None);

    ep.send(Outbound::reply_to(
        &m,
        Bytes::from_static(RESPONSE.as_bytes()),
    ))
    .await
    .unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], RESPONSE.as_bytes());
    assert_eq!(
        from, udp_addr,
        "symmetric signalling: sent from the listening port"
    );

    // Without a local address, the socket of the destination's family is used.
    ep.send(Outbound::new(
        Transport::Udp,
        client.local_addr().unwrap(),
        Bytes::from_static(RESPONSE.as_bytes()),
    ))
    .await
    .unwrap();
    let (_, from) = timeout(WAIT, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, udp_addr);
    assert_eq!(ep.stats().udp_dropped, 0);
}

#[tokio::test]
async fn c2_udp_full_event_queue_drops_and_counts_datagrams() {
    let config = TransportConfig {
        event_queue: 1,
        ..Default::default()
    };
    let (ep, mut rx) = endpoint(config, &["udp:127.0.0.1:0"]).await;
    let udp_addr = ep.local_addr(Transport::Udp).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let msg = options("");
    for _ in 0..3 {
        client.send_to(msg.as_bytes(), udp_addr).await.unwrap();
    }
    timeout(WAIT, async {
        while ep.stats().udp_dropped < 2 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("datagrams not dropped");
    assert_eq!(next_message(&mut rx).await.bytes, msg.as_bytes());
    // Room again: the next datagram is delivered.
    client.send_to(msg.as_bytes(), udp_addr).await.unwrap();
    assert_eq!(next_message(&mut rx).await.bytes, msg.as_bytes());
}

#[tokio::test]
async fn c2_shutdown_releases_udp_port() {
    let (ep, _rx) = endpoint(TransportConfig::default(), &["udp:127.0.0.1:0"]).await;
    let taken = ep.local_addrs()[0];
    timeout(WAIT, ep.shutdown()).await.unwrap();
    let (again, _rx) = Endpoint::bind(TransportConfig::default(), &[taken])
        .await
        .unwrap();
    assert_eq!(again.local_addrs(), &[taken]);
}

#[tokio::test]
async fn c2_udp_without_ipv6_socket_refuses_ipv6_destination() {
    let (ep, _rx) = endpoint(TransportConfig::default(), &["udp:127.0.0.1:0"]).await;
    let err = ep
        .send(Outbound::new(
            Transport::Udp,
            "[::1]:5060".parse().unwrap(),
            Bytes::from_static(b"x"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoSocket { .. }), "{err}");
}

#[tokio::test]
async fn c2_bind_reports_address_in_use() {
    let (ep, _rx) = endpoint(TransportConfig::default(), &["udp:127.0.0.1:0"]).await;
    let taken = ep.local_addrs()[0];
    let err = Endpoint::bind(TransportConfig::default(), &[taken])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err}");
    let err = Endpoint::bind(
        TransportConfig::default(),
        &["tls:127.0.0.1:0".parse().unwrap()],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::TlsCertificateMissing), "{err}");
}

// ---- C2: TLS -------------------------------------------------------------------

/// A CA and a server certificate for 127.0.0.1 and localhost, as PEM files.
struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    fn new(name: &str) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let dir = std::env::temp_dir().join(format!("sip-transport-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Locus test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server.signed_by(&server_key, &issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), server_cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), server_key.serialize_pem()).unwrap();
        Self { dir }
    }

    fn server_config(&self) -> TransportConfig {
        TransportConfig {
            tls_cert_file: Some(self.dir.join("cert.pem")),
            tls_key_file: Some(self.dir.join("key.pem")),
            tls_ca_file: Some(self.dir.join("ca.pem")),
            ..Default::default()
        }
    }

    fn client_config(&self) -> TransportConfig {
        TransportConfig {
            tls_ca_file: Some(self.dir.join("ca.pem")),
            ..Default::default()
        }
    }

    /// A plain rustls client trusting the test CA.
    async fn connect(&self, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
        let pem = std::fs::read(self.dir.join("ca.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = connect(addr).await;
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        timeout(WAIT, connector.connect(name, tcp))
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn c2_tls_message_delivered_and_answered_on_same_connection() {
    let pki = TestPki::new("tls-in");
    let (ep, mut rx) = endpoint(pki.server_config(), &["tls:127.0.0.1:0"]).await;
    let addr = ep.local_addr(Transport::Tls).unwrap();
    let mut client = pki.connect(addr).await;
    let msg = options("hello");
    client.write_all(msg.as_bytes()).await.unwrap();
    client.flush().await.unwrap();
    let m = next_message(&mut rx).await;
    assert_eq!(m.bytes, msg.as_bytes());
    assert_eq!(m.transport, Transport::Tls);
    assert_eq!(m.source, client.get_ref().0.local_addr().unwrap());

    ep.send(Outbound::reply_to(
        &m,
        Bytes::from_static(RESPONSE.as_bytes()),
    ))
    .await
    .unwrap();
    let mut buf = vec![0u8; RESPONSE.len()];
    timeout(WAIT, client.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf, RESPONSE.as_bytes());
    assert_eq!(ep.stats().connections, 1);
}

#[tokio::test]
async fn c2_tls_outbound_connection_verified_by_configured_ca() {
    let pki = TestPki::new("tls-out");
    let (server, mut server_rx) = endpoint(pki.server_config(), &["tls:127.0.0.1:0"]).await;
    let addr = server.local_addr(Transport::Tls).unwrap();
    let (client, mut client_rx) = endpoint(pki.client_config(), &[]).await;

    let req = options("");
    let mut out = Outbound::new(Transport::Tls, addr, Bytes::from(req.clone()));
    out.tls_server_name = Some("localhost".to_owned());
    client.send(out).await.unwrap();
    let got = next_message(&mut server_rx).await;
    assert_eq!(
        (got.bytes.as_ref(), got.transport),
        (req.as_bytes(), Transport::Tls)
    );
    server
        .send(Outbound::reply_to(
            &got,
            Bytes::from_static(RESPONSE.as_bytes()),
        ))
        .await
        .unwrap();
    let resp = next_message(&mut client_rx).await;
    assert_eq!(resp.bytes, RESPONSE.as_bytes());
    assert_eq!(resp.transport, Transport::Tls);

    // A name the certificate does not carry is refused.
    let (other, _rx) = endpoint(pki.client_config(), &[]).await;
    let mut out = Outbound::new(Transport::Tls, addr, Bytes::from(req));
    out.tls_server_name = Some("example.com".to_owned());
    let err = other.send(out).await.unwrap_err();
    assert!(matches!(err, Error::TlsHandshake { .. }), "{err}");

    // Without a CA file no TLS connection can be opened.
    let (plain, _rx) = endpoint(TransportConfig::default(), &[]).await;
    let err = plain
        .send(Outbound::new(
            Transport::Tls,
            addr,
            Bytes::from_static(b"x"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoTlsClientConfig), "{err}");
}
