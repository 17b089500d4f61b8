//! The event loop of the terminal UI: it owns the terminal, reads keys on a
//! separate thread, reloads the shown view every [`REFRESH_EVERY`] (and right
//! after an action or a view change) and runs actions, both in background
//! tasks, so a slow broker or store never blocks the keyboard.
//!
//! It may use the state ([`super::app`]), drawing ([`super::draw`]) and the
//! background work ([`super::work`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

use super::app::{Action, App, Loaded, Need, Outcome};
use super::draw::draw;
use super::work::{load, perform};
use crate::ops::Operator;

/// How often the shown view is reloaded.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

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
            app.tick(chrono::Utc::now());
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

fn spawn_action(op: &Operator, action: Action, tx: mpsc::UnboundedSender<Msg>) {
    let op = op.clone();
    tokio::spawn(async move {
        let outcome = perform(&op, action).await;
        let _ = tx.send(Msg::Outcome(outcome));
    });
}
