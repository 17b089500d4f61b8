use isoqube::{consumer, event, StepContext};

#[event]
struct Ping {
    n: u32,
}

#[consumer]
async fn ping(ev: Ping, _ctx: StepContext) -> Result<(), std::io::Error> {
    let _ = ev.n;
    Ok(())
}

fn main() {}
