//! The behaviour suite: every scenario of the run engine, written once against
//! the transport and store seams. Each test binary (`embedded.rs`, `real.rs`,
//! `mongo_behaviour.rs`) instantiates it with its own pair through
//! `behaviour_tests!` (and `masstransit_tests!`), listed in `lists.rs`.
//!
//! A scenario is a public async fn taking a `Harness`, in one of the topic files
//! below; `embedded.rs` fails when one is defined but not listed.
#![allow(dead_code)]

mod fixtures;
mod harness;
mod lists;

mod cancel;
mod chain;
mod compensation;
mod graph;
mod instances;
pub mod masstransit;
mod priority;
mod refusals;
mod retry;
mod schedules;
mod step_log;
mod waits;

// Not every binary that includes the suite instantiates every scenario.
#[allow(unused_imports)]
pub use fixtures::*;
#[allow(unused_imports)]
pub use harness::*;

#[allow(unused_imports)]
pub use cancel::*;
#[allow(unused_imports)]
pub use chain::*;
#[allow(unused_imports)]
pub use compensation::*;
#[allow(unused_imports)]
pub use graph::*;
#[allow(unused_imports)]
pub use instances::*;
#[allow(unused_imports)]
pub use priority::*;
#[allow(unused_imports)]
pub use refusals::*;
#[allow(unused_imports)]
pub use retry::*;
#[allow(unused_imports)]
pub use schedules::*;
#[allow(unused_imports)]
pub use step_log::*;
#[allow(unused_imports)]
pub use waits::*;
