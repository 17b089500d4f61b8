//! The store conformance suite: every operation of the `RunStore` seam, written
//! once and instantiated per store (`store_sqlite.rs`, `store_mongo.rs`) through
//! `conformance_tests!`. Transition outcomes are checked against the pure model
//! (`Run::claim` & co. applied to an in-memory copy), so every store gives
//! exactly the outcomes the model defines.
//!
//! A case is a public async fn taking a `Fixture`, in one of the topic files
//! below; `store_sqlite.rs` fails when one is defined but not listed.
#![allow(dead_code)]

mod fixture;
mod lists;

mod bad_data;
mod compensation;
mod deletion;
mod races;
mod records;
mod search;
mod services_topics_logs;
mod timers;
mod transitions;
mod watching;

pub use bad_data::*;
pub use compensation::*;
pub use deletion::*;
pub use fixture::*;
pub use races::*;
pub use records::*;
pub use search::*;
pub use services_topics_logs::*;
pub use timers::*;
pub use transitions::*;
pub use watching::*;
