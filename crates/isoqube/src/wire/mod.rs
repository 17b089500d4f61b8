//! Ground layer: the wire format. The MassTransit envelope every transport
//! carries, reading by content type, the header names, MassTransit's `Fault<T>`, message type URNs, endpoint addresses (`rabbitmq://host/vhost/name`), message
//! lineage, and the hand-written JSON and timestamp writers the hot path uses.
//! Uses only the error type and the host identity; nothing above it.

pub mod address;
pub mod content;
pub mod envelope;
pub mod fault;
pub mod headers;
pub(crate) mod json;
pub mod lineage;
pub(crate) mod time;
pub mod urn;
