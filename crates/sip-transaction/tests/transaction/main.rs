//! Conformance tests laid out by RFC and section, all on a manual clock.

mod util;

mod pair;
mod properties;
mod rfc3261_17_1_1;
mod rfc3261_17_1_2;
mod rfc3261_17_2_1;
mod rfc3261_17_2_2;
mod rfc3261_9;
mod rfc4320;
mod rfc6026;
mod table;
