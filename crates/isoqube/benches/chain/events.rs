//! The chain's events (`BenchStep1..8`, no payload) and their no-op consumers:
//! one group of eight per supported concurrency, because consumer concurrency
//! is a compile-time option of `#[consumer]`; the bench hosts the group asked
//! for. Uses only Isoqube's author API.

use serde::{Deserialize, Serialize};

/// The most steps a run can have (one event per step).
pub const MAX_STEPS: usize = 8;
/// The values `--concurrency` may take: one consumer group each.
pub const CONCURRENCIES: [usize; 7] = [1, 8, 16, 32, 64, 128, 256];

// The namespace is the one the events had when they lived in the bench's root
// module (`chain`): exchange names and the step envelope's size stay as they were.
macro_rules! bench_events {
    ($($name:ident),*) => {$(
        /// A no-op step of the benchmark chain.
        #[isoqube::event(namespace = "Chain")]
        #[derive(Serialize, Deserialize)]
        pub struct $name {}
    )*};
}
bench_events!(
    BenchStep1, BenchStep2, BenchStep3, BenchStep4, BenchStep5, BenchStep6, BenchStep7, BenchStep8
);

/// The events of a K-step run are the first K of these.
pub const EVENT_NAMES: [&str; MAX_STEPS] = [
    "BenchStep1",
    "BenchStep2",
    "BenchStep3",
    "BenchStep4",
    "BenchStep5",
    "BenchStep6",
    "BenchStep7",
    "BenchStep8",
];

/// One group of no-op consumers (one per event) with concurrency `$c`, hosted by
/// service `$svc`, in module `$m`.
macro_rules! bench_group {
    ($m:ident, $c:literal, $svc:literal, [$e1:literal, $e2:literal, $e3:literal, $e4:literal, $e5:literal, $e6:literal, $e7:literal, $e8:literal]) => {
        mod $m {
            use super::*;
            bench_group!(@one $c, $svc, s1, BenchStep1, $e1);
            bench_group!(@one $c, $svc, s2, BenchStep2, $e2);
            bench_group!(@one $c, $svc, s3, BenchStep3, $e3);
            bench_group!(@one $c, $svc, s4, BenchStep4, $e4);
            bench_group!(@one $c, $svc, s5, BenchStep5, $e5);
            bench_group!(@one $c, $svc, s6, BenchStep6, $e6);
            bench_group!(@one $c, $svc, s7, BenchStep7, $e7);
            bench_group!(@one $c, $svc, s8, BenchStep8, $e8);
        }
    };
    (@one $c:literal, $svc:literal, $f:ident, $ev:ident, $ep:literal) => {
        #[isoqube::consumer(service = $svc, endpoint = $ep, concurrency = $c)]
        async fn $f(_ev: $ev) -> anyhow::Result<()> {
            Ok(())
        }
    };
}

bench_group!(
    c1,
    1,
    "bench-c1",
    ["c1-s1", "c1-s2", "c1-s3", "c1-s4", "c1-s5", "c1-s6", "c1-s7", "c1-s8"]
);
bench_group!(
    c8,
    8,
    "bench-c8",
    ["c8-s1", "c8-s2", "c8-s3", "c8-s4", "c8-s5", "c8-s6", "c8-s7", "c8-s8"]
);
bench_group!(
    c16,
    16,
    "bench-c16",
    ["c16-s1", "c16-s2", "c16-s3", "c16-s4", "c16-s5", "c16-s6", "c16-s7", "c16-s8"]
);
bench_group!(
    c32,
    32,
    "bench-c32",
    ["c32-s1", "c32-s2", "c32-s3", "c32-s4", "c32-s5", "c32-s6", "c32-s7", "c32-s8"]
);
bench_group!(
    c64,
    64,
    "bench-c64",
    ["c64-s1", "c64-s2", "c64-s3", "c64-s4", "c64-s5", "c64-s6", "c64-s7", "c64-s8"]
);
bench_group!(
    c128,
    128,
    "bench-c128",
    ["c128-s1", "c128-s2", "c128-s3", "c128-s4", "c128-s5", "c128-s6", "c128-s7", "c128-s8"]
);
bench_group!(
    c256,
    256,
    "bench-c256",
    ["c256-s1", "c256-s2", "c256-s3", "c256-s4", "c256-s5", "c256-s6", "c256-s7", "c256-s8"]
);
