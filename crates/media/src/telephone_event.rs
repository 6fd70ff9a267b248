//! RFC 4733 section 2.3 telephone-event payload, and the C23 rule that
//! Locus carries events 0-15 only (DTMF digits 0-9, `*`, `#`, A-D).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// Length of one telephone-event payload (RFC 4733 section 2.3).
pub const TELEPHONE_EVENT_LEN: usize = 4;

/// Highest event code Locus relays (C23: events 0-15, RFC 4733 section 3.2
/// DTMF digits `0`-`9`, `*`, `#`, `A`-`D`).
pub const MAX_ALLOWED_EVENT: u8 = 15;

/// Why an RTP payload is not a telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The payload is shorter than the 4 bytes of RFC 4733 section 2.3.
    #[error("telephone-event payload of {0} bytes is shorter than 4")]
    TooShort(usize),
}

/// One RFC 4733 telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-255; 0-15 are the DTMF digits).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63); 0 for events without a volume.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first 4 bytes of an RTP payload (the R bit is ignored, as
    /// RFC 4733 section 2.3.3 tells receivers). Longer payloads are read
    /// from their first event.
    ///
    /// # Errors
    /// [`EventError::TooShort`] for payloads under 4 bytes.
    #[inline]
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(Self {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3f,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(EventError::TooShort(payload.len())),
        }
    }

    /// The 4 payload bytes (R bit zero, volume masked to 6 bits).
    pub fn to_bytes(&self) -> [u8; TELEPHONE_EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }

    /// Whether Locus relays this event ([`is_allowed_event`]).
    pub fn is_allowed(&self) -> bool {
        is_allowed_event(self.event)
    }
}

/// C23: whether `event` is one of the RFC 4733 events 0-15 Locus relays.
#[inline]
pub fn is_allowed_event(event: u8) -> bool {
    event <= MAX_ALLOWED_EVENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_2_3_fields() {
        // Digit 5, end bit, reserved bit set (ignored), volume 10, 800 units.
        let e = TelephoneEvent::parse(&[5, 0x80 | 0x40 | 10, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.to_bytes(), [5, 0x80 | 10, 0x03, 0x20]);
        assert!(e.is_allowed());
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(EventError::TooShort(3))
        );
    }

    #[test]
    fn c23_events_0_to_15_only() {
        assert!((0..=15).all(is_allowed_event));
        assert!((16..=255).all(|e| !is_allowed_event(e)));
    }
}
