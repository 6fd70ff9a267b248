//! Heap allocations per Locus parse with typed access, per sample message.
//!
//! ```sh
//! cargo run --release -p locus-bench --bin alloc_count
//! ```
//!
//! A counting global allocator (`stats_alloc`, so this binary needs
//! no `unsafe` of its own) wraps the system one; each message is parsed once
//! to warm up, then the allocations of 1000 parses are averaged.

use std::alloc::System;
use std::hint::black_box;

use bytes::Bytes;
use locus_bench::{locus_parse_typed, SAMPLES};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    const ROUNDS: usize = 1000;
    println!("message          bytes  allocs/parse  reallocs/parse  alloc-bytes/parse");
    for (name, data) in SAMPLES {
        let bytes = Bytes::from_static(data);
        black_box(locus_parse_typed(bytes.clone()));
        let region = Region::new(GLOBAL);
        for _ in 0..ROUNDS {
            black_box(locus_parse_typed(black_box(bytes.clone())));
        }
        let s = region.change();
        let per = |n: usize| n as f64 / ROUNDS as f64;
        println!(
            "{name:<16} {:>5}  {:>12.1}  {:>14.1}  {:>17.1}",
            data.len(),
            per(s.allocations),
            per(s.reallocations),
            per(s.bytes_allocated + s.bytes_reallocated.max(0) as usize),
        );
    }
}
