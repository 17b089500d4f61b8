use isoqube::{consumer, event, StepContext};

#[event]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ping {}

#[consumer(concurrency = 0)]
async fn ping(_ev: Ping, _ctx: StepContext) -> Result<(), std::io::Error> {
    Ok(())
}

#[consumer(retry = 3)]
async fn pong(_ev: Ping, _ctx: StepContext) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
