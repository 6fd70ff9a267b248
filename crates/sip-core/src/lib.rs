//! sip-core (placeholder: being written).
