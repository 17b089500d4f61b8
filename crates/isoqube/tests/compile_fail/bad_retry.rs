// A retry policy the runtime's parser refuses fails the build with its message.
use isoqube::{consumer, event};

#[event]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ping {}

#[consumer(retry = sometimes(attempts = 3))]
async fn unknown_policy(_ev: Ping) -> Result<(), std::io::Error> {
    Ok(())
}

#[consumer(retry = interval(attempts = 3, evry = "1s"))]
async fn misspelt_argument(_ev: Ping) -> Result<(), std::io::Error> {
    Ok(())
}

#[consumer(retry = exponential(3, 100, 5000))]
async fn positional(_ev: Ping) -> Result<(), std::io::Error> {
    Ok(())
}

#[consumer(retry = interval(attempts = 3, every = 500))]
async fn no_unit(_ev: Ping) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
