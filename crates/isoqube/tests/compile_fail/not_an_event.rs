use isoqube::{consumer, StepContext};

#[derive(serde::Serialize, serde::Deserialize)]
struct Plain {}

#[consumer]
async fn ping(_ev: Plain, _ctx: StepContext) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
