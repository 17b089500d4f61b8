//! Engine layer: hosting consumers: the service builder, one loop per endpoint, the chain rule
//! applied to every delivery, the heartbeat, and graceful shutdown.
//!
//! Per delivery: parse the envelope (a fault otherwise), check the message type
//! (skipped otherwise), claim the step in the store, run the consumer with its
//! retry policy, record the outcome, publish the next step, and only then ack.
//!
//! Files by job: `builder` (configure and start), `running` (a running
//! service and its shutdown), `endpoint` (one loop per endpoint), `step` (one
//! run step's handling, as its phases: claim, run, record, settle),
//! `in_hand` (the steps an endpoint is handling, so a second copy waits until the first is settled),
//! `publish_next` (what a handling publishes before it acks), `invoke`
//! (retries), `dead_letter` (moving messages aside), `signals` (the signal
//! endpoint: events runs wait for) and `sidecar` (servers plugged in beside
//! the consumers).

mod builder;
mod dead_letter;
mod endpoint;
mod in_hand;
mod invoke;
mod publish_next;
mod running;
mod sidecar;
mod signals;
mod step;

pub use builder::ServiceBuilder;
pub use endpoint::{
    DEFAULT_DURABLE_RETRY_AFTER, DEFAULT_LOST_ATTEMPTS_LIMIT, DEFAULT_RECORD_START_AFTER,
    DEFAULT_STEP_TIMEOUT,
};
pub use running::{shutdown_signal, Service};
pub use sidecar::{RunningSidecar, Sidecar};
pub use signals::{HEADER_REASON, REBIND_EVERY, SIGNAL_ENDPOINT};

use dead_letter::step_error;
use endpoint::{run_endpoint, Endpoint, Settle, Shared};
use running::heartbeat_loop;
