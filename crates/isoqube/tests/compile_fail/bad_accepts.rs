use isoqube::event;

// `accepts` takes MassTransit message type URNs: a bare `Ns:Type` is refused.
#[event(accepts = ["urn:message:Legacy:Ping", "Legacy.Contracts:OldPing"])]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ping {}

// ... and so is an entry that is not a string.
#[event(accepts = [42])]
#[derive(serde::Serialize, serde::Deserialize)]
struct Pong {}

fn main() {}
