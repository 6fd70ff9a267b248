//! One parse loop, for counting instructions with callgrind (the machine
//! is shared, so instruction counts are steadier than times):
//!
//! ```sh
//! cargo build --release -p locus-bench --example parse_loop
//! valgrind --tool=callgrind target/release/examples/parse_loop locus invite_carrier 11000
//! valgrind --tool=callgrind target/release/examples/parse_loop locus invite_carrier 1000
//! ```
//!
//! Arguments: `<locus|rsipstack> <sample> <iterations>`. Each iteration
//! is the parse with typed access the criterion benchmark times; the
//! difference of two runs divided by the difference of iterations is the
//! count per parse.

use std::hint::black_box;

use bytes::Bytes;
use locus_bench::{locus_parse_typed, SAMPLES};

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [parser, sample, iters] = &args[..] else {
        eprintln!("usage: parse_loop <locus|rsipstack> <sample> <iterations>");
        std::process::exit(2);
    };
    let (_, data) = SAMPLES
        .iter()
        .find(|(n, _)| n == sample)
        .expect("a sample name: invite_carrier, register, ok200, notify_reg");
    let iters: usize = iters.parse().expect("an iteration count");
    let bytes = Bytes::from_static(data);
    let mut acc = 0;
    for _ in 0..iters {
        acc += match parser.as_str() {
            "locus" => locus_parse_typed(black_box(bytes.clone())),
            "rsipstack" => common::rsipstack_parse_typed(black_box(data)),
            other => panic!("unknown parser {other}"),
        };
    }
    black_box(acc);
}
