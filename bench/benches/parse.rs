//! Parse speed: Locus's `sip_core` against rsipstack's parser, same messages,
//! same run.
//!
//! ```sh
//! cargo bench -p locus-bench --bench parse -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups, one per sample message:
//! - `locus/parse_typed`: `Message::parse` plus typed top Via and branch,
//!   From tag, To, Call-ID and CSeq.
//! - `rsipstack/parse`: `SipMessage::try_from(&[u8])` (its fastest public
//!   entry point; it already splits every header into an owned `String`).
//! - `rsipstack/parse_typed`: the same plus the same typed fields through its
//!   typed API.

use std::hint::black_box;

use bytes::Bytes;
use common::{rsipstack_parse, rsipstack_parse_typed};
use criterion::{criterion_main, Criterion, Throughput};
use locus_bench::{locus_parse_typed, SAMPLES};

mod common;

fn parse(c: &mut Criterion) {
    for (name, data) in SAMPLES {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(data.len() as u64));
        let bytes = Bytes::from_static(data);
        g.bench_function("locus/parse_typed", |b| {
            b.iter(|| locus_parse_typed(black_box(bytes.clone())))
        });
        g.bench_function("rsipstack/parse", |b| {
            b.iter(|| rsipstack_parse(black_box(data)))
        });
        g.bench_function("rsipstack/parse_typed", |b| {
            b.iter(|| rsipstack_parse_typed(black_box(data)))
        });
        g.finish();
    }
}

// `criterion_group!` defines an undocumented `pub fn benches`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::parse);
}
criterion_main!(group::benches);
