//! E6, the location by value (RFC 6442): an emergency INVITE towards a
//! gateway trunk with `send_location = true` carries the device's PIDF-LO
//! (RFC 4119, the civic address of RFC 5139, the ELIN the call presents)
//! as an `application/pidf+xml` body part with a Content-ID, beside the
//! SDP in a `multipart/mixed` body, named by `Geolocation: <cid:...>`,
//! with `Geolocation-Routing: yes` (emergency calls are routed by location,
//! RFC 6881 section 9; the manager, which located the device, is the rule
//! maker).
//!
//! Sans-IO and built from memory only: the location is what the manager
//! last PUBLISHed for the device ([`crate::elins`]), copied into the call
//! when it starts; nothing here reads a disk or waits. Without a known
//! civic location the call goes out as before (the ELIN only, no
//! Geolocation): E8's fail-open. A gateway that refuses the location
//! (424 Bad Location Information) gets the call again at once without it;
//! the 424 never reaches the caller (RFC 6442 section 4.1: who adds
//! location answers for it).
//!
//! A phone's own location is not relayed as such: the B2BUA builds each
//! leg's request, so a phone's Geolocation header stays on its leg; its
//! body parts stay beside the SDP, and the server's PIDF-LO comes last.

use bytes::Bytes;
use pidf_lo::{Elin, LocationDoc};

use crate::multipart::{is_multipart, Multipart, Part};

/// The `Geolocation-Routing` value sent: emergency calls are routed by
/// location.
pub(crate) const ROUTING: &str = "yes";

/// The location one gateway attempt carries: its PIDF-LO body part, ready
/// to be sent (built once per call, shared by its attempts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geolocation {
    /// RFC 2392 Content-ID, without angle brackets: `id@host`.
    cid: String,
    /// The PIDF-LO document.
    pidf: Bytes,
}

impl Geolocation {
    /// The location to send for `doc` with `elin` as its ELIN (the ELIN
    /// the call presents, which may be the 302's rather than the one
    /// published); `None` when `doc` has no civic address.
    pub(crate) fn new(doc: &LocationDoc, elin: Option<&str>) -> Option<Geolocation> {
        if doc.civic.is_empty() {
            return None;
        }
        let mut doc = doc.clone();
        doc.elin = elin.and_then(|e| Elin::parse(e).ok()).or(doc.elin);
        Some(Geolocation {
            cid: format!("loc-{}@locus.invalid", sip_core::new_tag()),
            pidf: Bytes::from(doc.to_xml()),
        })
    }

    /// The `Geolocation` header value: `<cid:...>`.
    pub(crate) fn header(&self) -> String {
        format!("<cid:{}>", self.cid)
    }

    /// The request's body: the offer's SDP (or its parts, when the offer
    /// is already multipart) followed by the PIDF-LO part. Always the same
    /// bytes for the same offer, so an INVITE sent again after a digest
    /// challenge carries the body its credentials were computed on.
    pub(crate) fn body(&self, offer: Option<&(String, Bytes)>) -> (String, Bytes) {
        let mut mp = match offer {
            Some((ct, b)) if is_multipart(ct) => {
                Multipart::parse(ct, b).unwrap_or_else(|_| Multipart::new("mixed"))
            }
            _ => Multipart::new("mixed"),
        };
        if let Some((ct, b)) = offer {
            if !is_multipart(ct) {
                mp.parts.push(Part::new(ct, b.clone()));
            }
        }
        if mp.subtype != "mixed" {
            // A related or alternative offer keeps its meaning as one part.
            let inner = mp.to_body(&self.seed());
            mp = Multipart::new("mixed");
            mp.parts.push(Part::new(&inner.0, inner.1));
        }
        let mut part = Part::new(pidf_lo::CONTENT_TYPE, self.pidf.clone());
        part.headers
            .push(("Content-ID".into(), format!("<{}>", self.cid)));
        mp.parts.push(part);
        mp.to_body(&self.seed())
    }

    /// The boundary seed: the Content-ID's local part (random per call).
    fn seed(&self) -> String {
        self.cid.split('@').next().unwrap_or("loc").to_owned()
    }
}

#[cfg(test)]
mod tests;
