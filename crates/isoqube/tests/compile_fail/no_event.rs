use isoqube::{consumer, StepContext};

#[consumer]
async fn ping(_ctx: StepContext) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
