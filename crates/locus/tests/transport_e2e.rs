//! The transport and transaction layers as a peer sees them through the real
//! `locus` binary: C2 (UDP, TCP, TLS), C3 (4 segments per message), and
//! RFC 3261 section 17 server transactions absorbing retransmissions.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Locus;

fn options(transport: &str, local: std::net::SocketAddr, branch: &str) -> String {
    format!(
        "OPTIONS sip:locus@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:locus@127.0.0.1>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Reads one SIP message (headers and Content-Length body) from a stream.
fn read_message(stream: &mut impl Read) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn tcp_locus() -> Locus {
    Locus::start(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n",
        2,
    )
}

fn send_in_segments(stream: &mut TcpStream, msg: &[u8], segments: usize) {
    let size = msg.len().div_ceil(segments);
    for chunk in msg.chunks(size) {
        stream.write_all(chunk).unwrap();
        stream.flush().unwrap();
        // Loopback delivers each write as its own segment once the reader has
        // drained the previous one.
        std::thread::sleep(Duration::from_millis(40));
    }
}

#[test]
fn c3_message_in_three_tcp_segments_is_answered() {
    let locus = tcp_locus();
    let mut s = TcpStream::connect(locus.addr("tcp")).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let msg = options("TCP", s.local_addr().unwrap(), "z9hG4bKseg3");
    send_in_segments(&mut s, msg.as_bytes(), 3);
    let resp = read_message(&mut s).unwrap();
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
}

#[test]
fn c3_message_not_complete_by_the_fourth_segment_resets_the_connection() {
    let locus = tcp_locus();
    let mut s = TcpStream::connect(locus.addr("tcp")).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let msg = options("TCP", s.local_addr().unwrap(), "z9hG4bKseg5");
    let bytes = msg.as_bytes();
    let size = bytes.len().div_ceil(5);
    let mut write_failed = false;
    for chunk in bytes.chunks(size) {
        if s.write_all(chunk).is_err() {
            write_failed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(0) => assert!(write_failed, "closed without reset"),
        Ok(n) => panic!(
            "answered a message sent in 5 segments: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

#[test]
fn rfc3261_17_2_2_retransmitted_request_gets_the_same_response() {
    let locus = tcp_locus();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let msg = options("UDP", sock.local_addr().unwrap(), "z9hG4bKretx");
    let mut buf = [0u8; 4096];
    sock.send_to(msg.as_bytes(), locus.addr("udp")).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    sock.send_to(msg.as_bytes(), locus.addr("udp")).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    let second = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.starts_with("SIP/2.0 200 OK"), "{first}");
    // Same bytes, same To tag: the transaction answered, not a new request.
    assert_eq!(first, second);
}

#[test]
fn rfc3261_17_2_1_final_response_to_invite_is_retransmitted_until_ack() {
    let locus = tcp_locus();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:+15550001111@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:+15550001111@127.0.0.1>\r\n\
         Call-ID: inv1@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:probe@{local}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(invite.as_bytes(), locus.addr("udp")).unwrap();
    let mut buf = [0u8; 4096];
    let mut finals = Vec::new();
    let start = Instant::now();
    // Timer G fires at T1 = 500 ms: two copies arrive within ~0.6 s.
    while finals.len() < 2 && start.elapsed() < Duration::from_secs(5) {
        let n = sock.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            finals.push(text);
        }
    }
    assert_eq!(finals.len(), 2, "final response not retransmitted");
    assert_eq!(finals[0], finals[1]);
    assert!(finals[0].starts_with("SIP/2.0 404"), "{}", finals[0]);
    // ACK it: retransmissions stop (Timer G is cancelled in Confirmed).
    let to = finals[0]
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .to_owned();
    let ack = format!(
        "ACK sip:+15550001111@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKinv1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         {to}\r\n\
         Call-ID: inv1@test\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(ack.as_bytes(), locus.addr("udp")).unwrap();
    // Drain anything already in flight, then expect silence past 2*T1.
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let quiet_from = Instant::now() + Duration::from_millis(100);
    loop {
        match sock.recv(&mut buf) {
            Ok(_) if Instant::now() < quiet_from => continue,
            Ok(n) => panic!(
                "retransmitted after ACK: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => break,
        }
    }
}

#[test]
fn c2_tls_listener_answers_options() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let config = format!(
        "[sip]\nlisten = [\"tls:127.0.0.1:0\"]\n[sip.tls]\ncert = {:?}\nkey = {:?}\n",
        cert_path.display().to_string(),
        key_path.display().to_string()
    );
    let locus = Locus::start(&config, 1);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let tcp = TcpStream::connect(locus.addr("tls")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = tcp.local_addr().unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(options("TLS", local, "z9hG4bKtls1").as_bytes())
        .unwrap();
    let resp = read_message(&mut tls).unwrap();
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
    assert!(resp.contains("Via: SIP/2.0/TLS"), "{resp}");
}

/// RFC 3261 section 18.2.2: without `rport`, a UDP response goes to the
/// source IP at the Via sent-by port, with `received` added when the sent-by
/// host differs from the source.
#[test]
fn rfc3261_18_2_2_udp_response_goes_to_the_via_port_without_rport() {
    let locus = tcp_locus();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let via_port = listener.local_addr().unwrap().port();
    let msg = options(
        "UDP",
        format!("127.0.0.9:{via_port}").parse().unwrap(),
        "z9hG4bKvia1",
    );
    sender.send_to(msg.as_bytes(), locus.addr("udp")).unwrap();
    let mut buf = [0u8; 4096];
    let n = listener.recv(&mut buf).unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(resp.starts_with("SIP/2.0 200 OK"), "{resp}");
    assert!(
        resp.contains(&format!(
            "Via: SIP/2.0/UDP 127.0.0.9:{via_port};branch=z9hG4bKvia1;received=127.0.0.1\r\n"
        )),
        "{resp}"
    );
}

/// RFC 3581: with `rport`, the response goes back to the source port, and
/// the Via carries it.
#[test]
fn rfc3581_rport_response_goes_to_the_source_port() {
    let locus = tcp_locus();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let msg = options("UDP", "127.0.0.1:5999".parse().unwrap(), "z9hG4bKrp1")
        .replace(";branch=z9hG4bKrp1", ";rport;branch=z9hG4bKrp1");
    sock.send_to(msg.as_bytes(), locus.addr("udp")).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(
        resp.contains(&format!(
            "Via: SIP/2.0/UDP 127.0.0.1:5999;rport={port};branch=z9hG4bKrp1\r\n"
        )),
        "{resp}"
    );
}
