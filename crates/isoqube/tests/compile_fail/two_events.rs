use isoqube::{consumer, event, StepContext};

#[event]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ping {}

#[event]
#[derive(serde::Serialize, serde::Deserialize)]
struct Pong {}

#[consumer]
async fn ping(_a: Ping, _b: Pong, _ctx: StepContext) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
