//! Media anchoring: the seam between the sans-IO B2BUA and the RTP/RTCP
//! relay (`crates/media`), and the SDP rewriting that goes with it (C24,
//! C25).
//!
//! # The seam
//!
//! Allocating a relay session binds (or takes from the relay's pool) four
//! UDP sockets: IO, which the B2BUA must not do. The B2BUA holds a [`MediaPort`] trait object instead and
//! calls it synchronously from its entry points. Every method is
//! non-blocking: the driver's implementation, [`RelayPort`], wraps
//! [`media::Relay`], whose `allocate_session` takes pooled pairs or binds
//! non-blocking sockets and hands them to the relay's own I/O threads, and
//! whose other calls only update a small table under a mutex. Unit tests pass a
//! fake that records the calls. A trait object was chosen over a command
//! queue drained by the driver because the B2BUA needs the relay's answer
//! at once: the ports of a new session go into the SDP it is about to
//! send, and the inactivity guard reads how long a session has been idle.
//!
//! # The SDP
//!
//! Each SDP that crosses the B2BUA from side X to side Y (offer, answer,
//! early media in a 183, re-INVITE) goes through `Anchor::cross`:
//!
//! 1. X's peer is set in the relay from the addresses written in X's SDP
//!    (C24: as given, never learned from packets): `c=` and the `m=` port,
//!    `a=rtcp` or the port + 1; with X's telephone-event payload type
//!    (C23) and X's media direction (hold).
//! 2. The SDP is rewritten for Y: the connection address (session and
//!    media `c=` lines) becomes the relay's IP and the anchored stream's
//!    `m=` port (and `a=rtcp`) the relay's port on Y's side; every other
//!    line is kept. Ports 0 stay 0.
//! 3. The `o=` line is Locus's own per side: the username, session id and
//!    address of the first SDP sent to Y, with a version that goes up by
//!    one each time the description sent to Y changes (RFC 3264 section 8).
//!
//! One relay session anchors one stream: the first active RTP audio stream
//! of the first SDP of the call. Other active streams are disabled (port
//! 0) in what is sent on, so the answerer rejects them too.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use media::{Direction, Leg};
use sdp::{Connection, Rtcp, SessionDescription};

/// The relay's RTP addresses for one call (RTCP is on the next port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLegs {
    /// Facing the caller (leg A): what the carrier's SDP gets.
    pub a_rtp: SocketAddr,
    /// Facing the callee (leg B): what the far end's SDP gets.
    pub b_rtp: SocketAddr,
}

impl MediaLegs {
    fn on(&self, leg: Leg) -> SocketAddr {
        match leg {
            Leg::A => self.a_rtp,
            Leg::B => self.b_rtp,
        }
    }
}

/// Why the relay could not do what the B2BUA asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// No session could be made (ports used up, bind failure): 503.
    Unavailable(String),
    /// A peer address the relay refuses (C24 well-known port): 488.
    Refused(String),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(e) => write!(f, "media relay unavailable: {e}"),
            Self::Refused(e) => write!(f, "media peer refused: {e}"),
        }
    }
}

impl std::error::Error for MediaError {}

/// What the B2BUA asks of the media relay, keyed by its call number. Every
/// method returns at once (no waiting on IO).
pub trait MediaPort: fmt::Debug + Send {
    /// A new session for `call`: the relay's addresses on each leg.
    ///
    /// # Errors
    /// [`MediaError::Unavailable`] when no session can be made.
    fn allocate(&mut self, call: u64) -> Result<MediaLegs, MediaError>;

    /// `leg`'s peer from its SDP: where the relay sends that leg's RTP
    /// (`rtcp`: `None` for the RTP port + 1).
    ///
    /// # Errors
    /// [`MediaError::Refused`] for a port below 1024.
    fn set_peer(
        &mut self,
        call: u64,
        leg: Leg,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), MediaError>;

    /// `leg` has no usable peer (stream disabled, `c=0.0.0.0` hold).
    fn clear_peer(&mut self, call: u64, leg: Leg);

    /// `leg`'s RFC 4733 telephone-event payload type (C23).
    fn set_telephone_event(&mut self, call: u64, leg: Leg, payload_type: Option<u8>);

    /// `leg`'s media direction, as its peer wrote it.
    fn set_direction(&mut self, call: u64, leg: Leg, direction: Direction);

    /// How long no packet arrived on either leg, as of `now`; `None` when
    /// `call` has no session.
    fn idle_for(&self, call: u64, now: Instant) -> Option<Duration>;

    /// The call ended: close the session and give its ports back.
    fn release(&mut self, call: u64);

    /// Live sessions (for tests and logs).
    fn sessions(&self) -> usize;
}

/// The driver's [`MediaPort`]: Locus's own relay.
#[derive(Debug)]
pub struct RelayPort {
    relay: media::Relay,
    sessions: HashMap<u64, media::Session, foldhash::fast::RandomState>,
}

impl RelayPort {
    /// A port over `relay`.
    pub fn new(relay: media::Relay) -> Self {
        Self {
            relay,
            sessions: HashMap::default(),
        }
    }

    /// The relay (for its `ports_in_use`).
    pub fn relay(&self) -> &media::Relay {
        &self.relay
    }
}

impl MediaPort for RelayPort {
    fn allocate(&mut self, call: u64) -> Result<MediaLegs, MediaError> {
        let s = self
            .relay
            .allocate_session()
            .map_err(|e| MediaError::Unavailable(e.to_string()))?;
        let legs = MediaLegs {
            a_rtp: s.leg_a.local_rtp_addr(),
            b_rtp: s.leg_b.local_rtp_addr(),
        };
        self.sessions.insert(call, s);
        Ok(legs)
    }

    fn set_peer(
        &mut self,
        call: u64,
        leg: Leg,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), MediaError> {
        match self.sessions.get(&call) {
            Some(s) => s
                .set_peer(leg, rtp, rtcp)
                .map_err(|e| MediaError::Refused(e.to_string())),
            None => Err(MediaError::Unavailable("no session".into())),
        }
    }

    fn clear_peer(&mut self, call: u64, leg: Leg) {
        if let Some(s) = self.sessions.get(&call) {
            s.clear_peer(leg);
        }
    }

    fn set_telephone_event(&mut self, call: u64, leg: Leg, payload_type: Option<u8>) {
        if let Some(s) = self.sessions.get(&call) {
            let types = media::PayloadTypes {
                telephone_event: payload_type,
            };
            if let Err(e) = s.set_payload_types(leg, types) {
                tracing::debug!(call, error = %e, "telephone-event payload type not set");
            }
        }
    }

    fn set_direction(&mut self, call: u64, leg: Leg, direction: Direction) {
        if let Some(s) = self.sessions.get(&call) {
            s.set_direction(leg, direction);
        }
    }

    fn idle_for(&self, call: u64, now: Instant) -> Option<Duration> {
        self.sessions.get(&call).map(|s| s.idle_for(now))
    }

    fn release(&mut self, call: u64) {
        if let Some(s) = self.sessions.remove(&call) {
            let (a, b) = (s.stats(Leg::A), s.stats(Leg::B));
            tracing::debug!(
                call,
                a_received = a.rtp_packets + a.rtcp_packets,
                a_forwarded = a.forwarded,
                b_received = b.rtp_packets + b.rtcp_packets,
                b_forwarded = b.forwarded,
                "media session released"
            );
            // Dropping the session hands its pairs back to the relay's I/O
            // thread, which pools them (or closes them and frees the ports).
            drop(s);
        }
    }

    fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

/// Locus's `o=` line toward one side.
#[derive(Debug, Clone)]
struct OriginState {
    origin: sdp::Origin,
    /// The last description sent, as sent (with `origin`).
    text: String,
}

/// The media state of one anchored call.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    legs: MediaLegs,
    /// The `m=` section the relay session carries.
    anchored: Option<usize>,
    origins: [Option<OriginState>; 2],
    directions: [Direction; 2],
    /// When the call was answered: the inactivity guard counts from here.
    pub(crate) answered_at: Option<Instant>,
}

fn media_direction(d: sdp::Direction) -> Direction {
    match d {
        sdp::Direction::SendRecv => Direction::SendRecv,
        sdp::Direction::SendOnly => Direction::SendOnly,
        sdp::Direction::RecvOnly => Direction::RecvOnly,
        sdp::Direction::Inactive => Direction::Inactive,
    }
}

impl Anchor {
    pub(crate) fn new(legs: MediaLegs) -> Self {
        Self {
            legs,
            anchored: None,
            origins: [None, None],
            directions: [Direction::SendRecv; 2],
            answered_at: None,
        }
    }

    /// `leg`'s media direction, as its peer last wrote it.
    pub(crate) fn direction(&self, leg: Leg) -> Direction {
        self.directions[leg.index()]
    }

    /// Whether a side set its stream inactive: no media is expected, so
    /// the inactivity guard waits.
    pub(crate) fn on_hold_without_media(&self) -> bool {
        self.directions.contains(&Direction::Inactive)
    }

    /// An SDP from side `from`, already under the trunk policy, on its way
    /// to the other side: sets `from`'s peer in the relay and rewrites the
    /// description to the relay's address on the other side. `to_ip` is
    /// written when the relay is bound to a wildcard address.
    ///
    /// # Errors
    /// The status for the sender: 488 when the relay refuses the peer.
    pub(crate) fn cross(
        &mut self,
        port: &mut dyn MediaPort,
        call: u64,
        from: Leg,
        mut sdp: SessionDescription,
        to_ip: IpAddr,
    ) -> Result<String, u16> {
        let to = from.other();
        let is_candidate = |m: &sdp::MediaSection| {
            m.port() != 0 && m.media_line().is_audio() && m.media_line().is_rtp()
        };
        if self.anchored.is_none() {
            self.anchored = sdp.media().iter().position(is_candidate);
        }
        let anchored = self.anchored;
        for (i, m) in sdp.media_mut().iter_mut().enumerate() {
            if Some(i) != anchored && m.port() != 0 {
                // One stream per relay session: the others are declined.
                m.set_port(0);
            }
        }
        let relay = self.legs.on(to);
        let ip = if relay.ip().is_unspecified() {
            to_ip
        } else {
            relay.ip()
        };
        if let Some(i) = anchored.filter(|&i| i < sdp.media().len()) {
            let index = sdp::MediaIndex(i);
            let dest = sdp
                .media_destination(index)
                .filter(|a| !a.ip().is_unspecified());
            match dest {
                Some(rtp) => {
                    // Without `a=rtcp`, RTCP is on the RTP port + 1 at the
                    // same address (what rtcp_destination answers), without
                    // reading the address again.
                    let rtcp = match sdp.media().get(i).and_then(sdp::MediaSection::rtcp) {
                        None => rtp
                            .port()
                            .checked_add(1)
                            .map(|p| SocketAddr::new(rtp.ip(), p)),
                        Some(_) => sdp.rtcp_destination(index),
                    };
                    port.set_peer(call, from, rtp, rtcp).map_err(|e| {
                        tracing::info!(call, error = %e, "SDP peer refused: 488");
                        488u16
                    })?;
                }
                None => port.clear_peer(call, from),
            }
            let direction = media_direction(sdp.effective_direction(index));
            self.directions[from.index()] = direction;
            port.set_direction(call, from, direction);
            if let Some(m) = sdp.media_section_mut(index) {
                // The first format classified as telephone-event: the one
                // whose rtpmap names it (no codec to look for).
                let te = m
                    .formats()
                    .iter()
                    .find(|f| {
                        m.rtpmap(f)
                            .is_some_and(|r| r.encoding.eq_ignore_ascii_case("telephone-event"))
                    })
                    .and_then(|f| f.parse::<u8>().ok());
                port.set_telephone_event(call, from, te);
                if m.port() != 0 {
                    m.set_port(relay.port());
                    if let Some(r) = m.rtcp() {
                        m.set_rtcp(Some(&Rtcp {
                            port: relay.port().saturating_add(1),
                            connection: r.connection.map(|_| Connection::new(ip)),
                        }));
                    }
                }
            }
        }
        sdp.set_connection_address(ip);
        Ok(self.with_origin(to, sdp))
    }

    /// The offer for a party taking side `side`'s place in the call (the
    /// target of a blind transfer, RFC 5589): the description last sent
    /// to `side` (the other party's media, on the relay's ports facing
    /// `side`), its anchored stream limited to the formats both parties
    /// use now and in both directions (a held call is offered unheld),
    /// under `side`'s `o=` line. The relay's ports do not change, so
    /// whatever the new party answers is a subset of what the other party
    /// already sends and receives: its description stays as it is (unless
    /// it was on hold: see the B2BUA's transfer). `None` before any SDP
    /// went to `side`.
    pub(crate) fn replacement_offer(&mut self, side: Leg) -> Option<String> {
        let sent = self.origins[side.index()].as_ref()?.text.clone();
        let mut sdp = SessionDescription::parse(&sent).ok()?;
        if let Some(i) = self.anchored {
            // A call on hold (the usual state before a transfer) is offered
            // to the new party in both directions; the other party is taken
            // off hold once the new one answers.
            let index = sdp::MediaIndex(i);
            if sdp.effective_direction(index) != sdp::Direction::SendRecv {
                if let Some(m) = sdp.media_section_mut(index) {
                    m.set_direction(sdp::Direction::SendRecv);
                }
            }
            let agreed: Option<Vec<String>> = self.origins[side.other().index()]
                .as_ref()
                .and_then(|o| SessionDescription::parse(&o.text).ok())
                .and_then(|other| other.media().get(i).map(|m| m.formats().to_vec()));
            if let (Some(agreed), Some(m)) = (agreed, sdp.media_mut().get_mut(i)) {
                let keep: Vec<String> = m
                    .formats()
                    .iter()
                    .filter(|f| agreed.contains(f))
                    .cloned()
                    .collect();
                if !keep.is_empty() {
                    // Cannot fail: `keep` is a non-empty subset of valid tokens.
                    let _ = m.set_formats(&keep);
                }
            }
        }
        Some(self.with_origin(side, sdp))
    }

    /// `sdp` written with Locus's `o=` line for side `to`: the origin of
    /// the first description sent to `to`, its version one higher each
    /// time what is sent changes. Works on the parsed description: no
    /// second parse of the text.
    fn with_origin(&mut self, to: Leg, mut sdp: SessionDescription) -> String {
        let slot = &mut self.origins[to.index()];
        let Some(state) = slot else {
            let text = sdp.serialize();
            *slot = Some(OriginState {
                origin: sdp.into_origin(),
                text: text.clone(),
            });
            return text;
        };
        sdp.set_origin(&state.origin);
        let text = sdp.serialize();
        if text == state.text {
            return text;
        }
        state.origin.session_version = state.origin.session_version.saturating_add(1);
        sdp.set_origin(&state.origin);
        let text = sdp.serialize();
        state.text.clone_from(&text);
        text
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A [`MediaPort`] that records what it is asked.
    #[derive(Debug, Default)]
    pub(crate) struct FakePort {
        pub(crate) next: u16,
        pub(crate) live: HashMap<u64, MediaLegs>,
        pub(crate) peers: HashMap<(u64, usize), (SocketAddr, Option<SocketAddr>)>,
        pub(crate) directions: HashMap<(u64, usize), Direction>,
        pub(crate) events: HashMap<(u64, usize), Option<u8>>,
        pub(crate) idle: Duration,
        pub(crate) allocated: usize,
    }

    impl MediaPort for FakePort {
        fn allocate(&mut self, call: u64) -> Result<MediaLegs, MediaError> {
            let base = 30_000 + self.next;
            self.next += 4;
            self.allocated += 1;
            let legs = MediaLegs {
                a_rtp: SocketAddr::from(([127, 0, 0, 1], base)),
                b_rtp: SocketAddr::from(([127, 0, 0, 1], base + 2)),
            };
            self.live.insert(call, legs);
            Ok(legs)
        }
        fn set_peer(
            &mut self,
            call: u64,
            leg: Leg,
            rtp: SocketAddr,
            rtcp: Option<SocketAddr>,
        ) -> Result<(), MediaError> {
            if rtp.port() < 1024 {
                return Err(MediaError::Refused("well-known port".into()));
            }
            self.peers.insert((call, leg.index()), (rtp, rtcp));
            Ok(())
        }
        fn clear_peer(&mut self, call: u64, leg: Leg) {
            self.peers.remove(&(call, leg.index()));
        }
        fn set_telephone_event(&mut self, call: u64, leg: Leg, payload_type: Option<u8>) {
            self.events.insert((call, leg.index()), payload_type);
        }
        fn set_direction(&mut self, call: u64, leg: Leg, direction: Direction) {
            self.directions.insert((call, leg.index()), direction);
        }
        fn idle_for(&self, call: u64, _now: Instant) -> Option<Duration> {
            self.live.contains_key(&call).then_some(self.idle)
        }
        fn release(&mut self, call: u64) {
            self.live.remove(&call);
        }
        fn sessions(&self) -> usize {
            self.live.len()
        }
    }

    const OFFER: &str = "v=0\r\no=carrier 5 10 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:40001\r\nm=image 0 udptl t38\r\nm=audio 40010 RTP/AVP 8\r\n";

    fn anchored() -> (FakePort, Anchor) {
        let mut port = FakePort::default();
        let legs = port.allocate(1).unwrap();
        (port, Anchor::new(legs))
    }

    #[test]
    fn c24_offer_is_rewritten_to_the_b_leg_and_a_peer_is_from_the_sdp() {
        let (mut port, mut anchor) = anchored();
        let sdp = SessionDescription::parse(OFFER).unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        let out = anchor.cross(&mut port, 1, Leg::A, sdp, ip).unwrap();
        assert_eq!(
            out,
            "v=0\r\no=carrier 5 10 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30002 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:30003\r\nm=image 0 udptl t38\r\nm=audio 0 RTP/AVP 8\r\n"
        );
        assert_eq!(
            port.peers[&(1, 0)],
            (
                "127.0.0.2:40000".parse().unwrap(),
                Some("127.0.0.2:40001".parse().unwrap())
            )
        );
        assert_eq!(port.events[&(1, 0)], Some(101));
        // The same description again: same version; a change: one more.
        let again = SessionDescription::parse(OFFER).unwrap();
        let out2 = anchor.cross(&mut port, 1, Leg::A, again, ip).unwrap();
        assert_eq!(out, out2);
        let held = OFFER.replace("a=rtcp:40001\r\n", "a=rtcp:40001\r\na=sendonly\r\n");
        let hold = SessionDescription::parse(&held).unwrap();
        let out3 = anchor.cross(&mut port, 1, Leg::A, hold, ip).unwrap();
        assert!(out3.contains("o=carrier 5 11 IN IP4"), "{out3}");
        assert!(out3.contains("a=sendonly"));
        assert_eq!(port.directions[&(1, 0)], Direction::SendOnly);
        assert!(anchor.directions[1] == Direction::SendRecv);
    }

    #[test]
    fn answer_goes_to_the_a_leg_with_its_own_origin() {
        let (mut port, mut anchor) = anchored();
        let ip = "127.0.0.1".parse().unwrap();
        let offer = SessionDescription::parse(OFFER).unwrap();
        anchor.cross(&mut port, 1, Leg::A, offer, ip).unwrap();
        let answer = "v=0\r\no=far 1 1 IN IP4 127.0.0.6\r\ns=-\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.6\r\na=rtpmap:96 telephone-event/8000\r\nm=image 0 udptl t38\r\nm=audio 0 RTP/AVP 8\r\n";
        let sdp = SessionDescription::parse(answer).unwrap();
        let out = anchor.cross(&mut port, 1, Leg::B, sdp, ip).unwrap();
        assert!(out.contains("o=far 1 1 IN IP4 127.0.0.6\r\n"), "{out}");
        assert!(out.contains("m=audio 30000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.1\r\n"));
        assert!(out.contains("m=image 0 udptl t38\r\n"));
        assert_eq!(port.peers[&(1, 1)].0, "127.0.0.6:42000".parse().unwrap());
        assert_eq!(port.events[&(1, 1)], Some(96));
        // A stream disabled in the answer: no peer, port stays 0.
        let off = SessionDescription::parse(&answer.replace("42000", "0")).unwrap();
        let out = anchor.cross(&mut port, 1, Leg::B, off, ip).unwrap();
        assert!(out.contains("m=audio 0 RTP/AVP 0 96"));
        assert!(out.contains("o=far 1 2 "), "{out}");
        assert!(!port.peers.contains_key(&(1, 1)));
    }

    #[test]
    fn c24_well_known_peer_port_is_refused() {
        let (mut port, mut anchor) = anchored();
        let sdp = SessionDescription::parse(&OFFER.replace("40000", "1000")).unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        assert_eq!(anchor.cross(&mut port, 1, Leg::A, sdp, ip), Err(488));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn relay_port_gives_every_port_back_on_release() {
        let relay = media::Relay::new(media::RelayConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            // Released pairs reusable at once (no rest in the pool).
            pool_quarantine: Duration::ZERO,
            ..media::RelayConfig::default()
        })
        .unwrap();
        let mut port = RelayPort::new(relay);
        let legs = port.allocate(7).unwrap();
        port.allocate(8).unwrap();
        assert_eq!((port.sessions(), port.relay().ports_in_use()), (2, 4));
        assert_ne!(legs.a_rtp, legs.b_rtp);
        port.set_peer(7, Leg::A, "127.0.0.1:40000".parse().unwrap(), None)
            .unwrap();
        assert!(matches!(
            port.set_peer(7, Leg::B, "127.0.0.1:80".parse().unwrap(), None),
            Err(MediaError::Refused(_))
        ));
        assert!(port.idle_for(7, Instant::now()).is_some());
        port.release(7);
        port.release(8);
        port.release(8);
        assert_eq!(port.sessions(), 0);
        // The relay's I/O thread lets dropped sessions' pairs go at its
        // next look (a tick of tens of milliseconds at most).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while port.relay().ports_in_use() != 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(port.relay().ports_in_use(), 0, "no port leak");
        // The pairs wait, bound, in the relay's pool; the next call reuses
        // the least recently released one.
        assert_eq!(port.relay().ports_pooled(), 4);
        let again = port.allocate(9).unwrap();
        assert_eq!(again.a_rtp, legs.a_rtp);
        assert_eq!(port.relay().ports_pooled(), 2);
    }
}
