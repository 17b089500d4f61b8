//! The terminal UI (ratatui): services and events, definitions (with a form),
//! runs with a live detail, actions, and the error queue.
//!
//! - [`app`]: the state ([`App`]) and how keys change it; pure, no I/O.
//! - [`draw`](mod@draw): paints an [`App`]; pure, tested with ratatui's `TestBackend`.
//! - [`form`]: the definition form and the `KEY=VALUE` parsers.
//!
//! [`run`] owns the terminal and the event loop: keys are read on a separate
//! thread, data is reloaded from the [`Operator`] every second (and right after
//! an action or a view change) in background tasks, and actions run in
//! background tasks too, so a slow broker or store never blocks the keyboard.
//! The terminal is restored on exit, on error and on panic.

pub mod app;
pub mod draw;
pub mod form;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

pub use app::{Action, App, Loaded, Need, Outcome, Tab};
pub use draw::draw;

use crate::Operator;

/// How often the shown view is reloaded.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// How many runs the runs view lists.
pub const RUNS_PAGE: usize = 200;

/// Restores the terminal when dropped (normal exit, `?` error paths, unwinding).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// What background tasks tell the loop.
enum Msg {
    Loaded(Loaded),
    LoadsDone,
    Outcome(Outcome),
}

/// Runs the terminal UI until the operator quits.
pub async fn run(op: Operator) -> anyhow::Result<()> {
    // try_init enables raw mode, enters the alternate screen and installs a
    // panic hook that restores the terminal before the panic message prints.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Undo whatever part of the set-up succeeded.
            let _ = ratatui::try_restore();
            anyhow::bail!("cannot open the terminal UI (is this a terminal?): {e}");
        }
    };
    let _guard = TerminalGuard;

    let stop = Arc::new(AtomicBool::new(false));
    let (key_tx, mut key_rx) = mpsc::unbounded_channel();
    let reader = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("tui-input".into())
            .spawn(move || read_input(key_tx, stop))?
    };

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut app = App::new();
    let mut loading = false;
    let mut reload_pending = true;
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let result: anyhow::Result<()> = async {
        loop {
            if reload_pending && !loading {
                reload_pending = false;
                loading = true;
                spawn_loads(&op, app.needs(), tx.clone());
            }
            app.now = chrono::Utc::now();
            terminal.draw(|f| draw(f, &app))?;
            tokio::select! {
                input = key_rx.recv() => match input {
                    Some(Ok(Event::Key(key))) => {
                        match app.handle_key(key) {
                            Action::None => {}
                            Action::Quit => {}
                            Action::Refresh => reload_pending = true,
                            action => spawn_action(&op, action, tx.clone()),
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::anyhow!("reading the keyboard: {e}")),
                    None => return Err(anyhow::anyhow!("the keyboard reader stopped")),
                },
                Some(msg) = rx.recv() => match msg {
                    Msg::Loaded(l) => app.apply(l),
                    Msg::LoadsDone => loading = false,
                    Msg::Outcome(o) => {
                        app.apply_outcome(o);
                        reload_pending = true;
                    }
                },
                _ = tick.tick() => reload_pending = true,
            }
            if app.quit {
                return Ok(());
            }
        }
    }
    .await;

    stop.store(true, Ordering::Relaxed);
    drop(key_rx);
    let _ = reader.join();
    drop(terminal);
    drop(_guard);
    result
}

/// Reads terminal events until told to stop or the loop is gone.
fn read_input(tx: mpsc::UnboundedSender<std::io::Result<Event>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match event::poll(Duration::from_millis(100)) {
            Ok(false) => {}
            Ok(true) => {
                let ev = event::read();
                let failed = ev.is_err();
                if tx.send(ev).is_err() || failed {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

fn text<T>(r: isoqube::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Loads what the view needs, one message per item, then `LoadsDone`.
fn spawn_loads(op: &Operator, needs: Vec<Need>, tx: mpsc::UnboundedSender<Msg>) {
    let op = op.clone();
    tokio::spawn(async move {
        for need in needs {
            let loaded = load(&op, need).await;
            if tx.send(Msg::Loaded(loaded)).is_err() {
                return;
            }
        }
        let _ = tx.send(Msg::LoadsDone);
    });
}

/// Loads one item of data for a view.
pub async fn load(op: &Operator, need: Need) -> Loaded {
    match need {
        Need::Events => Loaded::Events(text(op.events().await)),
        Need::Services => Loaded::Services(text(op.services().await)),
        Need::Definitions => Loaded::Definitions(text(op.definitions().await)),
        Need::Runs(filter) => Loaded::Runs {
            filter,
            result: text(
                op.runs(&isoqube::RunFilter {
                    status: filter,
                    limit: RUNS_PAGE,
                    ..Default::default()
                })
                .await,
            ),
        },
        Need::Detail { id, skip } => Loaded::Detail {
            id,
            run: text(op.run(id).await).map(Box::new),
            logs: text(op.run_logs(id, skip).await),
            skip,
        },
        Need::Errors => Loaded::Errors(text(op.error_queues().await)),
    }
}

fn spawn_action(op: &Operator, action: Action, tx: mpsc::UnboundedSender<Msg>) {
    let op = op.clone();
    tokio::spawn(async move {
        let outcome = perform(&op, action).await;
        let _ = tx.send(Msg::Outcome(outcome));
    });
}

/// Carries out an action and says what came of it.
pub async fn perform(op: &Operator, action: Action) -> Outcome {
    use app::short_id;
    let done = |result: Result<String, String>| Outcome::Done {
        result,
        open_run: None,
    };
    match action {
        Action::SaveDefinition { definition, create } => {
            let name = definition.name.clone();
            let result = if create {
                op.create_definition(definition).await
            } else {
                op.update_definition(definition).await
            };
            Outcome::Saved {
                name,
                create,
                result: text(result).map(|_| ()),
            }
        }
        Action::DeleteDefinition(name) => done(
            text(op.delete_definition(&name).await)
                .map(|()| format!("deleted definition '{name}'")),
        ),
        Action::Start {
            definition,
            variables,
        } => match text(op.start(&definition, variables).await) {
            Ok(run) => Outcome::Done {
                result: Ok(format!(
                    "started run {} of '{definition}'",
                    short_id(&run.id)
                )),
                open_run: Some(run.id),
            },
            Err(e) => done(Err(format!("cannot start '{definition}': {e}"))),
        },
        Action::Rerun(id) => match text(op.rerun(id).await) {
            Ok(run) => Outcome::Done {
                result: Ok(format!("re-ran {} as {}", short_id(&id), short_id(&run.id))),
                open_run: Some(run.id),
            },
            Err(e) => done(Err(format!("cannot re-run {}: {e}", short_id(&id)))),
        },
        Action::Resume(id) => done(
            text(op.resume(id).await)
                .map(|_| format!("resumed run {}", short_id(&id)))
                .map_err(|e| format!("cannot resume {}: {e}", short_id(&id))),
        ),
        Action::Cancel(id) => done(
            text(op.cancel(id).await)
                .map(|_| format!("cancelled run {}", short_id(&id)))
                .map_err(|e| format!("cannot cancel {}: {e}", short_id(&id))),
        ),
        Action::Requeue {
            endpoint,
            message_id,
        } => done(
            text(op.requeue(&endpoint, &message_id).await)
                .map(|()| format!("requeued {message_id} to '{endpoint}'"))
                .map_err(|e| format!("cannot requeue {message_id}: {e}")),
        ),
        Action::Discard {
            endpoint,
            message_id,
        } => done(
            text(op.discard(&endpoint, &message_id).await)
                .map(|()| format!("discarded {message_id} from '{endpoint}_error'"))
                .map_err(|e| format!("cannot discard {message_id}: {e}")),
        ),
        Action::None | Action::Quit | Action::Refresh => done(Ok(String::new())),
    }
}
