//! sip-transaction (placeholder: being written).
