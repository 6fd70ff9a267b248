//! Zero-copy views of RTP (RFC 3550 section 5.1) and RTCP (RFC 3550
//! section 6.4) headers, and the RTP/RTCP demultiplexing rule of RFC 5761
//! section 4.
//!
//! Nothing here allocates or copies: [`RtpHeader`] borrows the datagram and
//! reads fields on demand. Parsing never panics on any input.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           synchronization source (SSRC) identifier            |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |            contributing source (CSRC) identifiers             |
//! |                             ....                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// Length of the fixed RTP header (RFC 3550 section 5.1), without CSRCs.
pub const RTP_FIXED_HEADER_LEN: usize = 12;

/// Length of the fixed RTCP header (RFC 3550 section 6.4.1): version,
/// count, packet type and length.
pub const RTCP_HEADER_LEN: usize = 4;

/// The only RTP/RTCP version defined (RFC 3550 section 5.1).
pub const RTP_VERSION: u8 = 2;

/// Why a datagram is not a well-formed RTP or RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the fixed header (12 bytes for RTP, 4 for RTCP).
    #[error("packet of {len} bytes is shorter than the {need}-byte fixed header")]
    TooShort {
        /// Bytes received.
        len: usize,
        /// Bytes the fixed header needs.
        need: usize,
    },
    /// The version field is not 2 (RFC 3550 section 5.1).
    #[error("version {0} is not RTP version 2")]
    BadVersion(u8),
    /// The CSRC count says more identifiers than the packet holds.
    #[error("CSRC list of {count} entries runs past the end of the packet")]
    CsrcOverrun {
        /// The CC field.
        count: u8,
    },
    /// The header extension (X bit, RFC 3550 section 5.3.1) runs past the
    /// end of the packet.
    #[error("header extension runs past the end of the packet")]
    ExtensionOverrun,
    /// The padding count (P bit) is zero or larger than the payload.
    #[error("padding count {0} is zero or larger than the payload")]
    BadPadding(u8),
    /// The payload type is in the 64-95 range that RFC 5761 section 4
    /// reserves for RTCP: this is RTCP, not RTP.
    #[error("second octet {0} is in the RTCP packet type range 192-223 (RFC 5761)")]
    RtcpPayloadType(u8),
    /// An RTCP packet type outside 192-223 (RFC 5761 section 4).
    #[error("second octet {0} is not an RTCP packet type (192-223)")]
    NotRtcp(u8),
}

/// What kind of packet a datagram is, by the RFC 5761 section 4 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet (payload type outside 64-95).
    Rtp,
    /// An RTCP packet (second octet in 192-223: payload type 64-95 with
    /// the marker bit seen as part of the RTCP packet type).
    Rtcp,
}

/// RFC 5761 section 4 demultiplexing: a version-2 datagram whose second
/// octet, with the top bit masked off, is in 64..=95 is RTCP (packet types
/// 192-223: SR 200, RR 201, SDES 202, BYE 203, APP 204, feedback 205-206,
/// XR 207), since RTP must not use payload types 64-95 when multiplexed.
/// Anything shorter than two bytes or of another version is not. (A second
/// octet of 64-95 is thus RTCP-looking but invalid: [`RtcpHeader::parse`]
/// refuses it.)
#[inline]
pub fn is_rtcp(packet: &[u8]) -> bool {
    match packet {
        [first, second, ..] => first >> 6 == RTP_VERSION && (64..=95).contains(&(second & 0x7f)),
        _ => false,
    }
}

/// Classifies a datagram as RTP or RTCP ([`is_rtcp`]) without validating
/// the rest of it.
#[inline]
pub fn classify(packet: &[u8]) -> PacketKind {
    if is_rtcp(packet) {
        PacketKind::Rtcp
    } else {
        PacketKind::Rtp
    }
}

/// A validated, borrowed view of an RTP packet (RFC 3550 section 5.1).
///
/// [`RtpHeader::parse`] checks the version, the CSRC list, the header
/// extension and the padding against the datagram length, so every getter
/// is a plain read and [`RtpHeader::payload`] is always in bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    buf: &'a [u8],
    payload_offset: usize,
    payload_end: usize,
}

impl<'a> RtpHeader<'a> {
    /// Parses and validates the header of `packet`.
    ///
    /// # Errors
    /// [`RtpError`] when the packet is short, not version 2, its CSRC list,
    /// extension or padding do not fit, or its payload type is in the RTCP
    /// range of RFC 5761.
    #[inline]
    pub fn parse(packet: &'a [u8]) -> Result<Self, RtpError> {
        if packet.len() < RTP_FIXED_HEADER_LEN {
            return Err(RtpError::TooShort {
                len: packet.len(),
                need: RTP_FIXED_HEADER_LEN,
            });
        }
        let version = packet[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        if is_rtcp(packet) {
            return Err(RtpError::RtcpPayloadType(packet[1]));
        }
        let cc = packet[0] & 0x0f;
        let mut offset = RTP_FIXED_HEADER_LEN + 4 * usize::from(cc);
        if offset > packet.len() {
            return Err(RtpError::CsrcOverrun { count: cc });
        }
        if packet[0] & 0x10 != 0 {
            // RFC 3550 section 5.3.1: 16-bit profile field, 16-bit length
            // in 32-bit words not counting this 4-byte header.
            let Some(ext) = packet.get(offset..offset + 4) else {
                return Err(RtpError::ExtensionOverrun);
            };
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            offset += 4 + 4 * words;
            if offset > packet.len() {
                return Err(RtpError::ExtensionOverrun);
            }
        }
        let mut end = packet.len();
        if packet[0] & 0x20 != 0 {
            // RFC 3550 section 5.1: the last octet counts the padding
            // octets, itself included.
            let pad = packet[end - 1];
            if pad == 0 || usize::from(pad) > end - offset {
                return Err(RtpError::BadPadding(pad));
            }
            end -= usize::from(pad);
        }
        Ok(Self {
            buf: packet,
            payload_offset: offset,
            payload_end: end,
        })
    }

    /// The version field: always 2 after a successful parse.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }

    /// The P bit: the packet ends with padding.
    #[inline]
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The X bit: a header extension follows the CSRC list.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }

    /// The CC field: number of CSRC identifiers (0-15).
    #[inline]
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }

    /// The M bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The PT field (0-127).
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// The sequence number.
    #[inline]
    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The RTP timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronization source identifier.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// The CSRC identifiers, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let end = RTP_FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count());
        self.buf[RTP_FIXED_HEADER_LEN..end]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension, when the X bit is set: the 16-bit
    /// profile-defined field and the extension data (RFC 3550 section 5.3.1).
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if !self.has_extension() {
            return None;
        }
        let start = RTP_FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count());
        let profile = u16::from_be_bytes([self.buf[start], self.buf[start + 1]]);
        Some((profile, &self.buf[start + 4..self.payload_offset]))
    }

    /// Offset of the payload from the start of the packet.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// The payload, without header and padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_offset..self.payload_end]
    }

    /// Number of padding octets at the end (0 without the P bit).
    #[inline]
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The whole packet this header was parsed from.
    #[inline]
    pub fn packet(&self) -> &'a [u8] {
        self.buf
    }
}

/// A validated, borrowed view of the first RTCP header of a (possibly
/// compound) RTCP packet (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader<'a> {
    buf: &'a [u8],
}

impl<'a> RtcpHeader<'a> {
    /// Parses the first RTCP header of `packet`: at least 4 bytes, version
    /// 2, packet type 192-223 (RFC 5761 section 4).
    ///
    /// # Errors
    /// [`RtpError::TooShort`], [`RtpError::BadVersion`], or
    /// [`RtpError::NotRtcp`] when the packet type is outside 192-223.
    #[inline]
    pub fn parse(packet: &'a [u8]) -> Result<Self, RtpError> {
        if packet.len() < RTCP_HEADER_LEN {
            return Err(RtpError::TooShort {
                len: packet.len(),
                need: RTCP_HEADER_LEN,
            });
        }
        let version = packet[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        if !(192..=223).contains(&packet[1]) {
            return Err(RtpError::NotRtcp(packet[1]));
        }
        Ok(Self { buf: packet })
    }

    /// The P bit of the first packet.
    #[inline]
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The count field (reception report count or subtype).
    #[inline]
    pub fn count(&self) -> u8 {
        self.buf[0] & 0x1f
    }

    /// The packet type (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, ...).
    #[inline]
    pub fn packet_type(&self) -> u8 {
        self.buf[1]
    }

    /// The length field: the first packet's length in 32-bit words minus one.
    #[inline]
    pub fn length_words(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The whole datagram this header was parsed from.
    #[inline]
    pub fn packet(&self) -> &'a [u8] {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, second: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![
            first, second, 0x12, 0x34, 0, 0, 0x03, 0x20, 0xde, 0xad, 0xbe, 0xef,
        ];
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn rfc3550_5_1_fixed_header_fields() {
        let p = packet(0x80, 0x80 | 8, &[1, 2, 3]);
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!(h.version(), 2);
        assert!(h.marker());
        assert_eq!(h.payload_type(), 8);
        assert_eq!(h.sequence_number(), 0x1234);
        assert_eq!(h.timestamp(), 800);
        assert_eq!(h.ssrc(), 0xdead_beef);
        assert_eq!(h.payload_offset(), 12);
        assert_eq!(h.payload(), &[1, 2, 3]);
        assert_eq!(h.csrcs().len(), 0);
        assert_eq!(h.extension(), None);
    }

    #[test]
    fn rfc3550_5_1_csrc_extension_and_padding() {
        // CC=1, X=1, P=1: one CSRC, a 1-word extension, 2 payload bytes,
        // 3 padding bytes.
        let rest = [
            0, 0, 0, 7, 0xbe, 0xde, 0, 1, 9, 9, 9, 9, 0xaa, 0xbb, 0, 0, 3,
        ];
        let p = packet(0x80 | 0x20 | 0x10 | 1, 0, &rest);
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!(h.csrcs().collect::<Vec<_>>(), [7]);
        assert_eq!(h.extension(), Some((0xbede, &[9u8, 9, 9, 9][..])));
        assert_eq!(h.payload_offset(), 24);
        assert_eq!(h.payload(), &[0xaa, 0xbb]);
        assert_eq!(h.padding_len(), 3);
    }

    #[test]
    fn rfc3550_5_1_malformed_headers_are_typed_errors() {
        assert_eq!(
            RtpHeader::parse(&[0x80; 5]),
            Err(RtpError::TooShort { len: 5, need: 12 })
        );
        assert_eq!(
            RtpHeader::parse(&packet(0x40, 0, &[])),
            Err(RtpError::BadVersion(1))
        );
        assert_eq!(
            RtpHeader::parse(&packet(0x82, 0, &[0; 4])),
            Err(RtpError::CsrcOverrun { count: 2 })
        );
        assert_eq!(
            RtpHeader::parse(&packet(0x90, 0, &[0, 0, 0, 2, 0, 0, 0, 0])),
            Err(RtpError::ExtensionOverrun)
        );
        assert_eq!(
            RtpHeader::parse(&packet(0xa0, 0, &[1, 0])),
            Err(RtpError::BadPadding(0))
        );
        assert_eq!(
            RtpHeader::parse(&packet(0xa0, 0, &[9])),
            Err(RtpError::BadPadding(9))
        );
    }

    #[test]
    fn rfc5761_4_rtcp_packet_types_are_demuxed() {
        for pt in [192u8, 200, 201, 202, 203, 204, 205, 206, 207, 223] {
            assert!(is_rtcp(&[0x80, pt, 0, 1]), "{pt}");
            assert_eq!(classify(&[0x81, pt]), PacketKind::Rtcp);
            let rr = [0x81, pt, 0, 6];
            let h = RtcpHeader::parse(&rr).unwrap();
            assert_eq!((h.count(), h.packet_type(), h.length_words()), (1, pt, 6));
        }
        for second in [0u8, 8, 96, 101, 127, 128, 0x80 | 101, 224] {
            assert!(!is_rtcp(&[0x80, second, 0, 1]), "{second}");
        }
        assert!(!is_rtcp(&[0x80]));
        assert!(!is_rtcp(&[0x40, 200]));
        assert_eq!(
            RtpHeader::parse(&packet(0x80, 200, &[])),
            Err(RtpError::RtcpPayloadType(200))
        );
        assert_eq!(
            RtcpHeader::parse(&[0x80, 0, 0, 0]),
            Err(RtpError::NotRtcp(0))
        );
        assert_eq!(
            RtcpHeader::parse(&[0x80, 72, 0, 0]),
            Err(RtpError::NotRtcp(72))
        );
    }
}
