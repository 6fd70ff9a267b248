//! Building an answer to an offer (RFC 3264 section 6) under the policy.

use std::net::IpAddr;

use crate::model::{Line, MediaIndex, MediaSection, SessionDescription};
use crate::policy::{filter_offer, Outcome, Policy, Rejection};
use crate::types::{Connection, MediaLine, Origin};

/// What the answerer writes about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// `o=` username; `-` is usual.
    pub username: String,
    /// `o=` session id (a number; kept for the whole session).
    pub session_id: u64,
    /// `o=` session version of this answer.
    pub session_version: u64,
    /// `s=` session name; `-` is usual.
    pub session_name: String,
    /// The address where the answerer receives media (the relay's): used
    /// in `o=` and in the session-level `c=`.
    pub address: IpAddr,
}

impl LocalMedia {
    /// `o=- <session_id> <session_id> ...`, `s=-`, at `address`.
    pub fn new(session_id: u64, address: IpAddr) -> Self {
        LocalMedia {
            username: "-".to_owned(),
            session_id,
            session_version: session_id,
            session_name: "-".to_owned(),
            address,
        }
    }
}

/// Builds the answer skeleton to `offer` under `policy` (RFC 3264 section
/// 6):
///
/// - the offer is first filtered with [`filter_offer`], so a refused offer
///   gives the same [`Rejection`] (488, e.g. T.38 only or a well-known
///   port);
/// - the answer has as many `m=` lines as the offer, in the same order;
///   a stream that is rejected (T.38, no allowed codec, ...) or that the
///   offer disabled gets port 0 and the offered formats, nothing else;
/// - an accepted stream gets the port `port_for(index)` returns (the
///   relay's; it must be 1024 or above, C24), the offered transport, the
///   allowed formats in the offerer's order, their `a=rtpmap` and `a=fmtp`
///   lines (telephone-event limited to 0-15), the offer's `a=ptime` and
///   `a=maxptime`, and the mirrored direction (sendonly and recvonly swap),
///   always written;
/// - the session part is `v=0`, `o=` and `s=` from `local`, `c=` to
///   `local.address`, and the offer's `t=` lines (RFC 3264 section 6: the
///   `t=` line of the answer equals that of the offer).
///
/// `port_for` is called once per accepted stream, in order.
pub fn build_answer(
    offer: &SessionDescription,
    policy: &Policy,
    local: &LocalMedia,
    mut port_for: impl FnMut(MediaIndex) -> u16,
) -> Result<(SessionDescription, Outcome), Rejection> {
    let mut filtered = offer.clone();
    let outcome = filter_offer(&mut filtered, policy)?;

    let origin = Origin {
        username: token_or_dash(&local.username),
        session_id: local.session_id.to_string(),
        session_version: local.session_version,
        net_type: "IN".to_owned(),
        addr_type: crate::types::addr_type(local.address).to_owned(),
        address: local.address.to_string(),
    };
    let connection = Connection::new(local.address);
    let session_name = if local.session_name.is_empty() || has_control(&local.session_name) {
        "-".to_owned()
    } else {
        local.session_name.clone()
    };
    let mut session = vec![
        Line::from_parts('v', "0"),
        Line::from_parts('o', &origin.to_string()),
        Line::from_parts('s', &session_name),
        Line::from_parts('c', &connection.to_string()),
    ];
    let times: Vec<Line> = offer
        .session_lines()
        .iter()
        .filter(|l| l.kind() == 't')
        .cloned()
        .collect();
    if times.is_empty() {
        session.push(Line::from_parts('t', "0 0"));
    } else {
        session.extend(times);
    }

    let mut media = Vec::with_capacity(filtered.media().len());
    for (i, m) in filtered.media().iter().enumerate() {
        let index = MediaIndex(i);
        let offered = m.media_line();
        if offered.port == 0 {
            media.push(MediaSection::new(MediaLine {
                media: offered.media.clone(),
                port: 0,
                port_count: None,
                proto: offered.proto.clone(),
                formats: offered.formats.clone(),
            }));
            continue;
        }
        let mut section = MediaSection::new(MediaLine {
            media: offered.media.clone(),
            port: port_for(index),
            port_count: None,
            proto: offered.proto.clone(),
            formats: offered.formats.clone(),
        });
        for format in &offered.formats {
            for line in m.lines() {
                let Some((name @ ("rtpmap" | "fmtp"), Some(v))) = line.attribute() else {
                    continue;
                };
                if v.split(' ').next() == Some(format.as_str()) {
                    section.push_line('a', &format!("{name}:{v}"));
                }
            }
        }
        for name in ["ptime", "maxptime"] {
            if let Some(v) = m.attribute(name) {
                section.push_line('a', &format!("{name}:{v}"));
            }
        }
        section.set_direction(filtered.effective_direction(index).mirrored());
        media.push(section);
    }
    let answer = SessionDescription::from_parts(session, origin, Some(connection), media);
    Ok((answer, outcome))
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

fn token_or_dash(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) {
        s.to_owned()
    } else {
        "-".to_owned()
    }
}
