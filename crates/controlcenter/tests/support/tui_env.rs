//! The real `controlcenter tui` in a pseudo-terminal against a CLI test's
//! broker prefix and store (`cli_env`), for the end-to-end TUI tests.

use super::cli_env::Env;
use super::pty::Tui;
use super::records::StoreAt;

/// The TUI against `e`'s broker prefix and store, in a `w`x`h` terminal.
pub fn tui(e: &Env, w: usize, h: usize) -> Tui {
    let mut args = Vec::new();
    let mut env = vec![
        ("ISOQUBE_AMQP_URL".to_string(), isoqube::testing::amqp_url()),
        ("ISOQUBE_AMQP_PREFIX".to_string(), e.prefix.clone()),
    ];
    match &e.store_args {
        StoreAt::Sqlite(path) => {
            args.push("--store".to_string());
            args.push(path.to_string_lossy().into_owned());
        }
        StoreAt::Mongo { url, db } => {
            env.push(("ISOQUBE_MONGO_URL".into(), url.clone()));
            env.push(("ISOQUBE_MONGO_DB".into(), db.clone()));
        }
    }
    Tui::start_with(&args, &env, w, h)
}
