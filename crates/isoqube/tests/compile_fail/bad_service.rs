isoqube::service!();

isoqube::service!(42);

isoqube::service!("");

isoqube::service!("linux pool");

isoqube::service!("linux-pool", "windows-pool");

fn main() {}
