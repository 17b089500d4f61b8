//! The terminal UI in a pseudo-terminal (made by util-linux `script`) of a
//! given size: the real `controlcenter tui` binary started with the
//! environment and arguments a test gives, keys typed into it, and the screen
//! rebuilt from its output by a tiny VT parser.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `width`x`height` screen rebuilt from what the program wrote: cursor
/// moves, clears and text; colours and modes are ignored.
pub fn render(bytes: &[u8], width: usize, height: usize) -> Vec<String> {
    let mut grid = vec![vec![' '; width]; height];
    let (mut x, mut y) = (0usize, 0usize);
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut fin = ' ';
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            fin = c;
                            break;
                        }
                        params.push(c);
                    }
                    let nums: Vec<usize> = params
                        .split(';')
                        .map(|p| p.trim_start_matches('?').parse().unwrap_or(0))
                        .collect();
                    let n = |i: usize| nums.get(i).copied().unwrap_or(0).max(1);
                    match fin {
                        'H' | 'f' => {
                            y = n(0) - 1;
                            x = n(1) - 1;
                        }
                        'J' if nums.first() == Some(&2) => {
                            grid = vec![vec![' '; width]; height];
                        }
                        'h' | 'l' if params == "?1049" => {
                            grid = vec![vec![' '; width]; height];
                        }
                        'A' => y = y.saturating_sub(n(0)),
                        'B' => y += n(0),
                        'C' => x += n(0),
                        'D' => x = x.saturating_sub(n(0)),
                        'G' => x = n(0) - 1,
                        _ => {}
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ST.
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.peek() == Some(&'\\')) {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => x = 0,
            '\n' => y += 1,
            '\x08' => x = x.saturating_sub(1),
            c if c.is_control() => {}
            c => {
                if y < height && x < width {
                    grid[y][x] = c;
                }
                x += 1;
            }
        }
    }
    grid.into_iter().map(|r| r.into_iter().collect()).collect()
}

/// The binary running in a pseudo-terminal.
pub struct Tui {
    pub child: Child,
    width: usize,
    height: usize,
    stdin: ChildStdin,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

pub fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let Ok(mut b) = sink.lock() {
                b.extend_from_slice(&chunk[..n]);
            }
        }
    });
    buf
}

pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Tui {
    /// Starts `controlcenter ARGS tui` in a `width`x`height` terminal, with
    /// `env` set and every other `ISOQUBE_` variable removed.
    pub fn start_with(
        args: &[String],
        env: &[(String, String)],
        width: usize,
        height: usize,
    ) -> Tui {
        let which = Command::new("script").arg("--version").output();
        assert!(
            which.map(|o| o.status.success()).unwrap_or(false),
            "util-linux `script` is needed to run the TUI in a pseudo-terminal"
        );
        let bin = env!("CARGO_BIN_EXE_controlcenter");
        let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let inner = format!(
            "stty rows {height} cols {width}; {} {} tui; \
             code=$?; echo; echo \"TUI-EXIT=$code\"; stty -a",
            quote(bin),
            args.join(" ")
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qfec", &inner, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env("SHELL", "/bin/sh")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("ISOQUBE_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start `script`");
        let stdin = child.stdin.take().expect("stdin");
        let out = collect(child.stdout.take().expect("stdout"));
        let err = collect(child.stderr.take().expect("stderr"));
        Tui {
            child,
            width,
            height,
            stdin,
            out,
            err,
        }
    }

    /// Everything the program wrote.
    pub fn output(&self) -> Vec<u8> {
        self.out.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// The screen now.
    pub fn screen(&self) -> String {
        render(&self.output(), self.width, self.height).join("\n")
    }

    /// Types `keys` (one burst).
    pub fn send(&mut self, keys: &str) {
        self.stdin.write_all(keys.as_bytes()).expect("type");
        self.stdin.flush().expect("flush");
        // Let the UI read each burst separately (an escape sequence stays whole).
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits (up to 40 s) until every one of `what` is on the screen.
    #[track_caller]
    pub fn wait_for(&self, what: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let screen = self.screen();
            if what.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            if Instant::now() > deadline {
                let err = self.err.lock().map(|b| b.clone()).unwrap_or_default();
                panic!(
                    "timed out waiting for {what:?} on screen:\n{screen}\n--- stderr:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
