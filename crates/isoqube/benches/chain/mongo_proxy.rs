//! The counting MongoDB proxy: with `--store mongo` the driver talks to the
//! server through a TCP proxy on 127.0.0.1 that tallies the commands clients
//! send (by OP_MSG command name), which gives the round trips per step. Uses
//! tokio's networking only; nothing of Isoqube.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Commands the driver sent, by name (OP_MSG body's first key).
#[derive(Default)]
pub struct CommandCounts {
    by_name: Mutex<BTreeMap<String, u64>>,
}

impl CommandCounts {
    fn bump(&self, name: &str) {
        *self
            .by_name
            .lock()
            .expect("counts lock")
            .entry(name.to_string())
            .or_default() += 1;
    }
    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_name.lock().expect("counts lock").clone()
    }
}

/// The command name of one client->server wire message.
fn command_name(msg: &[u8]) -> String {
    let op = msg
        .get(12..16)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match op {
        // OP_MSG: header(16) flags(4) kind(1)=0 then a BSON document: len(4) type(1) name\0
        Some(2013) if msg.get(20) == Some(&0) => {
            let name = msg.get(26..).unwrap_or_default();
            let end = name.iter().position(|b| *b == 0).unwrap_or(0);
            String::from_utf8_lossy(&name[..end]).into_owned()
        }
        Some(2012) => "<compressed>".into(),
        Some(other) => format!("<op {other}>"),
        None => "<short>".into(),
    }
}

/// Listens on 127.0.0.1 and forwards every connection to `upstream`, counting
/// the commands clients send. Returns the URL to give the driver.
pub async fn mongo_proxy(upstream: String, counts: Arc<CommandCounts>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy listens");
    let port = listener.local_addr().expect("proxy address").port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    loop {
                        let mut len = [0u8; 4];
                        if cr.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let n = i32::from_le_bytes(len).max(4) as usize;
                        let mut msg = vec![0u8; n];
                        msg[..4].copy_from_slice(&len);
                        if cr.read_exact(&mut msg[4..]).await.is_err() {
                            return;
                        }
                        counts.bump(&command_name(&msg));
                        if sw.write_all(&msg).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! {
                    _ = up => {},
                    _ = down => {},
                }
            });
        }
    });
    format!("mongodb://127.0.0.1:{port}/?directConnection=true")
}

/// `host:port` of a `mongodb://[user:pass@]host:port[/...]` URL.
pub fn mongo_host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(',').next().unwrap_or(host);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:27017")
    }
}

/// The counts of `after` less those of `before`, without the zeros.
pub fn diff(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}
