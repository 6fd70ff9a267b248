//! The media policy on carrier trunks (DESIGN.md C21-C24): allowed codecs,
//! telephone-event range, T.38 refusal, well-known ports.

use std::fmt;

use crate::error::SdpError;
use crate::events::{self, Limited};
use crate::model::{MediaIndex, MediaSection, SessionDescription};
use crate::types::RtpMap;

/// A codec Locus allows (C21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Opus, `opus/48000/2` (RFC 7587), preferred.
    Opus,
    /// G.711 A-law, `PCMA/8000`, static payload type 8.
    Pcma,
    /// G.711 u-law, `PCMU/8000`, static payload type 0.
    Pcmu,
    /// G.722, `G722/8000` (RFC 3551 section 4.5.2 says 8000 for a 16 kHz
    /// codec; `G722/16000`, seen in the field, is accepted too), static
    /// payload type 9.
    G722,
    /// G.729, `G729/8000`, static payload type 18.
    G729,
}

impl Codec {
    /// Every codec of C21, Opus first.
    pub const ALL: [Codec; 5] = [
        Codec::Opus,
        Codec::Pcma,
        Codec::Pcmu,
        Codec::G722,
        Codec::G729,
    ];

    /// The rtpmap encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::G722 => "G722",
            Codec::G729 => "G729",
        }
    }

    /// The static payload type (RFC 3551 table 4), if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Opus => None,
            Codec::Pcma => Some(8),
            Codec::Pcmu => Some(0),
            Codec::G722 => Some(9),
            Codec::G729 => Some(18),
        }
    }

    /// Whether an rtpmap names this codec: encoding name
    /// (case-insensitive), clock rate and channels.
    pub fn matches(self, rtpmap: &RtpMap<'_>) -> bool {
        if !rtpmap.encoding.eq_ignore_ascii_case(self.encoding_name()) {
            return false;
        }
        match self {
            Codec::Opus => rtpmap.clock_rate == 48000 && rtpmap.parameters == Some("2"),
            Codec::G722 => {
                matches!(rtpmap.clock_rate, 8000 | 16000) && rtpmap.channels() == Some(1)
            }
            _ => rtpmap.clock_rate == 8000 && rtpmap.channels() == Some(1),
        }
    }

    fn from_static(payload_type: &str) -> Option<Codec> {
        // The static payload types written as `u8::to_string` writes them.
        let pt = match payload_type {
            "0" => 0,
            "8" => 8,
            "9" => 9,
            "18" => 18,
            _ => return None,
        };
        Codec::ALL
            .into_iter()
            .find(|c| c.static_payload_type() == Some(pt))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// What one format of a media section is, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    /// A codec of C21.
    Codec(Codec),
    /// RFC 4733 `telephone-event` (C23).
    TelephoneEvent,
    /// Anything else.
    Other,
}

/// Classifies a format of a media section: by its rtpmap when it has one
/// (encoding name compared case-insensitively), else by static payload
/// type (0, 8, 9, 18).
pub fn classify(section: &MediaSection, format: &str) -> FormatKind {
    classify_with(section, format).0
}

/// [`classify`], and the format's rtpmap (read once for both).
fn classify_with<'a>(section: &'a MediaSection, format: &str) -> (FormatKind, Option<RtpMap<'a>>) {
    let rtpmap = section.rtpmap(format);
    let kind = match &rtpmap {
        Some(r) if r.encoding.eq_ignore_ascii_case("telephone-event") => FormatKind::TelephoneEvent,
        Some(r) => Codec::ALL
            .into_iter()
            .find(|c| c.matches(r))
            .map_or(FormatKind::Other, FormatKind::Codec),
        None => Codec::from_static(format).map_or(FormatKind::Other, FormatKind::Codec),
    };
    (kind, rtpmap)
}

/// The media policy applied to offers and answers.
///
/// [`Policy::carrier_trunk`] (also the default) is C21-C24.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Allowed codecs (C21); others are removed.
    pub codecs: Vec<Codec>,
    /// Whether `telephone-event` is kept (C23).
    pub telephone_event: bool,
    /// The highest telephone-event code kept (C23: 15).
    pub max_telephone_event: u8,
    /// Whether T.38 streams are refused (C22).
    pub refuse_t38: bool,
    /// The lowest port allowed in an `m=` line or `a=rtcp` (C24: 1024;
    /// ports below it, other than 0, are refused with 488).
    pub lowest_port: u16,
}

impl Policy {
    /// The carrier trunk policy of DESIGN.md C21-C24.
    pub fn carrier_trunk() -> Self {
        Policy {
            codecs: Codec::ALL.to_vec(),
            telephone_event: true,
            max_telephone_event: 15,
            refuse_t38: true,
            lowest_port: 1024,
        }
    }

    fn allows(&self, kind: FormatKind) -> bool {
        match kind {
            FormatKind::Codec(c) => self.codecs.contains(&c),
            FormatKind::TelephoneEvent => self.telephone_event,
            FormatKind::Other => false,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::carrier_trunk()
    }
}

/// Why a description is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The description is valid SDP but Locus will not use it: answer 488
    /// Not Acceptable Here.
    #[error("not acceptable here: {reason}")]
    NotAcceptableHere {
        /// Why.
        reason: NotAcceptable,
    },
    /// The body is not valid SDP: answer 400 Bad Request.
    #[error("malformed SDP: {0}")]
    Malformed(#[from] SdpError),
}

impl Rejection {
    /// The SIP status code to answer with: 488 or 400.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::NotAcceptableHere { .. } => 488,
            Rejection::Malformed(_) => 400,
        }
    }
}

/// Why a valid description is not acceptable (488).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAcceptable {
    /// An `m=` port is a well-known port (C24).
    #[error("RTP port {port} is a well-known port (0-{})", lowest.saturating_sub(1))]
    WellKnownPort {
        /// The stream.
        media: MediaIndex,
        /// The port.
        port: u16,
        /// The lowest port allowed.
        lowest: u16,
    },
    /// An `a=rtcp` port is a well-known port (C24).
    #[error("RTCP port {port} is a well-known port (0-{})", lowest.saturating_sub(1))]
    WellKnownRtcpPort {
        /// The stream.
        media: MediaIndex,
        /// The port.
        port: u16,
        /// The lowest port allowed.
        lowest: u16,
    },
    /// The only stream is T.38 fax, which is refused (C22).
    #[error(
        "T.38 fax is not supported (fax is G.711 passthrough only) and no audio stream is usable"
    )]
    T38Only,
    /// No audio stream is left with an allowed codec (C21).
    #[error("no audio stream offers an allowed codec (Opus, PCMA, PCMU, G722, G729)")]
    NoUsableAudio,
}

/// Why one stream was rejected (its port set to 0, RFC 3264 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRejection {
    /// A T.38 fax stream (C22).
    T38Refused,
    /// A media type other than audio.
    NotAudio,
    /// A transport other than RTP.
    UnsupportedTransport,
    /// No allowed codec is offered (C21); telephone-event alone is not
    /// enough.
    NoAllowedCodec,
}

/// One change the policy made to a description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A format that is not an allowed codec was removed, with its
    /// `a=rtpmap`/`a=fmtp` lines (C21).
    RemovedFormat {
        /// The stream.
        media: MediaIndex,
        /// The format (payload type).
        format: String,
        /// Its rtpmap encoding name, if it had one.
        encoding: Option<String>,
    },
    /// A telephone-event list was limited (C23).
    LimitedTelephoneEvents {
        /// The stream.
        media: MediaIndex,
        /// The payload type.
        format: String,
        /// The new list.
        events: String,
    },
    /// A telephone-event format with no event in range (or an unreadable
    /// list) was removed (C23).
    RemovedTelephoneEvent {
        /// The stream.
        media: MediaIndex,
        /// The payload type.
        format: String,
    },
    /// A stream was rejected: port set to 0, formats left as offered.
    RejectedStream {
        /// The stream.
        media: MediaIndex,
        /// Why.
        reason: StreamRejection,
    },
}

/// What [`filter_offer`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Outcome {
    /// The streams kept (port not 0), in order.
    pub accepted: Vec<MediaIndex>,
    /// The changes, in order.
    pub changes: Vec<Change>,
}

/// Refuses well-known ports (C24): any active `m=` port, or `a=rtcp`
/// port of an active stream, in `1..policy.lowest_port`. Port 0 is a
/// disabled stream and is fine. Every stream is checked, T.38 included.
pub fn check_ports(sdp: &SessionDescription, policy: &Policy) -> Result<(), Rejection> {
    let lowest = policy.lowest_port;
    let refused = |p: u16| p != 0 && p < lowest;
    for (i, m) in sdp.media().iter().enumerate() {
        let media = MediaIndex(i);
        if m.port() == 0 {
            continue;
        }
        if refused(m.port()) {
            return Err(Rejection::NotAcceptableHere {
                reason: NotAcceptable::WellKnownPort {
                    media,
                    port: m.port(),
                    lowest,
                },
            });
        }
        if let Some(rtcp) = m.rtcp().filter(|r| refused(r.port)) {
            return Err(Rejection::NotAcceptableHere {
                reason: NotAcceptable::WellKnownRtcpPort {
                    media,
                    port: rtcp.port,
                    lowest,
                },
            });
        }
    }
    Ok(())
}

enum Plan {
    Disabled,
    Reject(StreamRejection),
    Accept {
        /// Whether each format of the `m=` line is kept, in order.
        keep: Vec<bool>,
        /// Telephone-event lists to narrow: the format's position, the
        /// new list.
        narrowed: Vec<(usize, String)>,
    },
}

fn plan_stream(
    m: &MediaSection,
    media: MediaIndex,
    policy: &Policy,
    changes: &mut Vec<Change>,
) -> Plan {
    let line = m.media_line();
    if line.port == 0 {
        return Plan::Disabled;
    }
    if line.is_t38() && policy.refuse_t38 {
        return Plan::Reject(StreamRejection::T38Refused);
    }
    if !line.is_audio() {
        return Plan::Reject(StreamRejection::NotAudio);
    }
    if !line.is_rtp() {
        return Plan::Reject(StreamRejection::UnsupportedTransport);
    }
    let mut keep = Vec::with_capacity(line.formats.len());
    let mut narrowed = Vec::new();
    let mut stream_changes = Vec::new();
    let mut has_codec = false;
    for (index, format) in line.formats.iter().enumerate() {
        let (kind, rtpmap) = classify_with(m, format);
        if !policy.allows(kind) {
            stream_changes.push(Change::RemovedFormat {
                media,
                format: format.clone(),
                encoding: rtpmap.map(|r| r.encoding.to_owned()),
            });
            keep.push(false);
            continue;
        }
        if kind == FormatKind::TelephoneEvent {
            // No fmtp: RFC 2833 section 3.9 defaults to 0-15, within C23.
            if let Some(fmtp) = m.fmtp(format) {
                match events::limit(fmtp.parameters, policy.max_telephone_event) {
                    Limited::Unchanged => {}
                    Limited::Narrowed(list) => {
                        stream_changes.push(Change::LimitedTelephoneEvents {
                            media,
                            format: format.clone(),
                            events: list.clone(),
                        });
                        narrowed.push((index, list));
                    }
                    Limited::Empty | Limited::Malformed => {
                        stream_changes.push(Change::RemovedTelephoneEvent {
                            media,
                            format: format.clone(),
                        });
                        keep.push(false);
                        continue;
                    }
                }
            }
        } else {
            has_codec = true;
        }
        keep.push(true);
    }
    if !has_codec {
        return Plan::Reject(StreamRejection::NoAllowedCodec);
    }
    changes.extend(stream_changes);
    Plan::Accept { keep, narrowed }
}

/// Applies the policy to an offer (C21-C24), in place:
///
/// 1. well-known ports are refused ([`check_ports`]);
/// 2. a T.38 stream, a non-audio stream, a non-RTP stream, or an audio
///    stream with no allowed codec is rejected: its port becomes 0 (RFC
///    3264 section 6; the `m=` line stays, formats as offered);
/// 3. in the other streams, formats that are not allowed codecs or
///    telephone-event are removed with their `a=rtpmap`/`a=fmtp` lines, and
///    telephone-event lists are limited to `0..=max_telephone_event`
///    (a telephone-event left with no event is removed);
/// 4. if no stream is left, the offer is refused with
///    [`NotAcceptable::T38Only`] (it offered T.38) or
///    [`NotAcceptable::NoUsableAudio`].
///
/// On error the description is left unchanged. Lines that need no change
/// keep their bytes; the origin version is not bumped (the caller does,
/// when it sends the result as its own description).
pub fn filter_offer(sdp: &mut SessionDescription, policy: &Policy) -> Result<Outcome, Rejection> {
    check_ports(sdp, policy)?;
    let mut changes = Vec::new();
    let plans: Vec<Plan> = sdp
        .media()
        .iter()
        .enumerate()
        .map(|(i, m)| plan_stream(m, MediaIndex(i), policy, &mut changes))
        .collect();
    if !plans.iter().any(|p| matches!(p, Plan::Accept { .. })) {
        let t38 = sdp.media().iter().any(|m| m.media_line().is_t38());
        let reason = if t38 && policy.refuse_t38 {
            NotAcceptable::T38Only
        } else {
            NotAcceptable::NoUsableAudio
        };
        return Err(Rejection::NotAcceptableHere { reason });
    }
    let mut outcome = Outcome::default();
    for (i, plan) in plans.into_iter().enumerate() {
        let media = MediaIndex(i);
        let Some(m) = sdp.media_section_mut(media) else {
            continue;
        };
        match plan {
            Plan::Disabled => {}
            Plan::Reject(reason) => {
                m.set_port(0);
                changes.push(Change::RejectedStream { media, reason });
            }
            Plan::Accept { keep, narrowed } => {
                // The fmtp lines are rewritten first, while `narrowed`'s
                // positions hold: those formats are kept, so removing the
                // others' lines after it gives the same lines.
                if keep.contains(&false) {
                    // Cannot fail (as `set_formats` could not): the kept
                    // formats hold a codec and are payload type numbers.
                    // Checked before any line changes all the same.
                    m.check_kept_formats(&keep)?;
                }
                for (index, list) in narrowed {
                    m.set_fmtp(index, &list);
                }
                if keep.contains(&false) {
                    m.retain_formats(&keep)?;
                }
                outcome.accepted.push(media);
            }
        }
    }
    // Report per stream in m-line order.
    changes.sort_by_key(|c| match c {
        Change::RemovedFormat { media, .. }
        | Change::LimitedTelephoneEvents { media, .. }
        | Change::RemovedTelephoneEvent { media, .. }
        | Change::RejectedStream { media, .. } => *media,
    });
    outcome.changes = changes;
    Ok(outcome)
}

/// Applies the same policy to an answer (C21: codecs are removed from
/// answers too). An answer that leaves no usable audio stream is refused
/// the same way; the caller ends the call (ACK then BYE) rather than
/// answering 488.
pub fn filter_answer(sdp: &mut SessionDescription, policy: &Policy) -> Result<Outcome, Rejection> {
    filter_offer(sdp, policy)
}

/// Puts Opus first in every audio stream's format list (C21: Opus is
/// preferred in Locus's own offers), keeping the others' order. Lines are
/// rewritten only where the order changes.
pub fn prefer_opus(sdp: &mut SessionDescription) {
    for m in sdp.media_mut() {
        if !m.media_line().is_audio() {
            continue;
        }
        // Opus has no static payload type: with no rtpmap naming it, no
        // format is Opus and nothing moves (issue 3: no classifying).
        let names_opus = m.attributes().any(|(name, value)| {
            name == "rtpmap"
                && value.is_some_and(|v| {
                    v.as_bytes()
                        .windows(4)
                        .any(|w| w.eq_ignore_ascii_case(b"opus"))
                })
        });
        if !names_opus {
            continue;
        }
        let (mut opus, rest): (Vec<String>, Vec<String>) = m
            .formats()
            .iter()
            .cloned()
            .partition(|f| classify(m, f) == FormatKind::Codec(Codec::Opus));
        opus.extend(rest);
        if opus != m.formats() {
            // Same non-empty set of formats, reordered: cannot fail.
            let _ = m.set_formats(&opus);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(lines: &[&str]) -> SessionDescription {
        let mut text = String::from("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 192.0.2.1\r\n");
        for l in lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        SessionDescription::parse(&text).unwrap()
    }

    #[test]
    fn c21_classifies_by_rtpmap_then_static_type() {
        let s = section(&[
            "m=audio 4000 RTP/AVP 0 8 9 18 3 96 97 98 0",
            "a=rtpmap:96 G722/16000",
            "a=rtpmap:97 pcma/8000/2",
            "a=rtpmap:98 Telephone-Event/8000",
        ]);
        let m = &s.media()[0];
        let kinds: Vec<FormatKind> = m.formats().iter().map(|f| classify(m, f)).collect();
        use FormatKind::*;
        assert_eq!(
            kinds,
            [
                Codec(super::Codec::Pcmu),
                Codec(super::Codec::Pcma),
                Codec(super::Codec::G722),
                Codec(super::Codec::G729),
                Other,
                Codec(super::Codec::G722),
                Other,
                TelephoneEvent,
                Codec(super::Codec::Pcmu),
            ]
        );
    }

    #[test]
    fn c21_static_type_remapped_by_rtpmap_follows_the_rtpmap() {
        let s = section(&["m=audio 4000 RTP/AVP 0", "a=rtpmap:0 L16/8000"]);
        assert_eq!(classify(&s.media()[0], "0"), FormatKind::Other);
    }

    #[test]
    fn c21_narrower_policy_removes_more() {
        let mut s = section(&["m=audio 4000 RTP/AVP 18 0 8"]);
        let policy = Policy {
            codecs: vec![Codec::Pcma],
            ..Policy::carrier_trunk()
        };
        filter_offer(&mut s, &policy).unwrap();
        assert_eq!(s.media()[0].formats(), ["8"]);
    }

    #[test]
    fn c21_prefer_opus_keeps_the_others_order() {
        let mut s = section(&[
            "m=audio 4000 RTP/AVP 8 0 96 101",
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:101 telephone-event/48000",
        ]);
        prefer_opus(&mut s);
        assert_eq!(s.media()[0].formats(), ["96", "8", "0", "101"]);
        let before = s.serialize();
        prefer_opus(&mut s);
        assert_eq!(s.serialize(), before);
    }

    #[test]
    fn c22_other_media_and_transports_are_rejected_streams() {
        let mut s = section(&[
            "m=audio 4000 RTP/AVP 0",
            "m=video 4002 RTP/AVP 31",
            "m=audio 4004 TCP/MSRP *",
        ]);
        let outcome = filter_offer(&mut s, &Policy::carrier_trunk()).unwrap();
        assert_eq!(outcome.accepted, [MediaIndex(0)]);
        assert_eq!(
            outcome.changes,
            [
                Change::RejectedStream {
                    media: MediaIndex(1),
                    reason: StreamRejection::NotAudio
                },
                Change::RejectedStream {
                    media: MediaIndex(2),
                    reason: StreamRejection::UnsupportedTransport
                },
            ]
        );
        assert_eq!(s.media()[1].port(), 0);
        assert_eq!(s.media()[2].port(), 0);
    }

    #[test]
    fn c24_port_of_disabled_stream_and_its_rtcp_are_not_checked() {
        let s = section(&["m=audio 0 RTP/AVP 0", "a=rtcp:80", "m=audio 4000 RTP/AVP 0"]);
        assert!(check_ports(&s, &Policy::carrier_trunk()).is_ok());
    }

    #[test]
    fn rejection_status_codes() {
        let r = Rejection::NotAcceptableHere {
            reason: NotAcceptable::T38Only,
        };
        assert_eq!(r.status(), 488);
        assert_eq!(Rejection::from(SdpError::Empty).status(), 400);
    }
}
