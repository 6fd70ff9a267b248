//! sip-transport (placeholder: being written).
