//! The HTTP API (`controlcenter::api`) served on 127.0.0.1 and driven by a
//! small HTTP/1.1 client over a TCP stream, with runs that really execute:
//! the test process hosts an isoqube service with two consumers.
//!
//! The same scenario runs on both pairs: embedded (in-process transport +
//! SQLite, the operator on the service's own transport) and real (RabbitMQ +
//! MongoDB, the MongoDB-wire test server in tests). RabbitMQ and the
//! MongoDB-wire server must be reachable: the real-pair test fails, not skips,
//! when they are not. A property test feeds a few hundred random JSON bodies
//! to the write endpoints: never a 5xx, always a JSON error for a 4xx; and
//! schemathesis checks the served document against the server with every
//! check, on both pairs (`schemathesis.rs`).
//!
//! The OpenAPI document is the contract: every documented route is served
//! (and no other method on its path), every answer any test got has a status
//! the document declares for that operation, and the routes the 401 sweep
//! calls are the document's own.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use controlcenter::api::{self, ApiSettings};
use controlcenter::Operator;
use isoqube::testing::{amqp_url, mongo_url};
use isoqube::transport::{AmqpConfig, AmqpTransport, Transport};
use isoqube::{
    consumer, event, InProcessTransport, MongoStore, RunStore, Service, SqliteStore, StepContext,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod cc_api;
mod client;
mod compensation;
mod contract;
mod corrupt_stuck;
mod definitions;
mod edges;
mod env;
mod error_queues;
mod health;
mod metrics;
mod openapi;
mod property;
#[path = "../support/records.rs"]
mod records;
mod runs;
mod schemathesis;
mod serve;
mod signals;
mod store_outage;
mod webhooks;

use client::*;
use contract::{answers, answers_are_documented, concrete, documented, Answer};
use definitions::*;
use env::*;
use health::*;
use openapi::openapi;
use records::StoreAt;
use runs::*;
use webhooks::*;

/// Each scenario (an async fn taking `&Env`) as a test of its own on each
/// pair, on a fresh API; `with SETUP` prepares it first (`Env::with_flow`).
macro_rules! on_both_pairs {
    ($($scenario:ident $(with $setup:ident)?),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let env = Env::embedded(BODY_LIMIT).await $(.$setup().await)?;
                    super::$scenario(&env).await;
                    env.stop().await;
                }
            )*
        }
        mod rabbitmq_and_mongodb {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let env = Env::real(BODY_LIMIT).await $(.$setup().await)?;
                    super::$scenario(&env).await;
                    env.stop().await;
                }
            )*
        }
    };
}

on_both_pairs!(
    health_and_auth,
    definitions,
    runs with with_flow,
    webhooks with with_flow,
    openapi,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_on_the_embedded_pair() {
    let env = Env::embedded(schemathesis::body_limit()).await;
    schemathesis::check(&env).await;
    answers_are_documented(env.addr);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_on_rabbitmq_and_mongodb() {
    let env = Env::real(schemathesis::body_limit()).await;
    schemathesis::check(&env).await;
    answers_are_documented(env.addr);
    env.stop().await;
}
