//! locus-sip (placeholder: being written).
