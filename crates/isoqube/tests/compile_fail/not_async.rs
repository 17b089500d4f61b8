use isoqube::{consumer, event, StepContext};

#[event]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ping {}

#[consumer]
fn ping(_ev: Ping, _ctx: StepContext) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
