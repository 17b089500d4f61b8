//! The small collections: definitions (by name), service instances (by id),
//! topics (by event name, consumer lists merged) and the last claimed due time
//! of each schedule. Each operation is one document write or read.
//!
//! May use: the codec and errors of this store, the model's records, the
//! driver.

use chrono::{DateTime, Utc};
use futures_util::stream::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;
use serde::de::DeserializeOwned;

use super::codec::{from_doc, to_doc, ts, DEFINITIONS, SERVICES, TICKS, TOPICS};
use super::errors::is_duplicate_key;
use super::MongoStore;
use crate::error::{Error, Result};
use crate::model::{Definition, ServiceRecord, TopicRecord};

pub(super) async fn create_definition(store: &MongoStore, def: &Definition) -> Result<()> {
    let mut d = to_doc("definition", &def.name, def)?;
    d.insert("_id", def.name.clone());
    match store.definitions.insert_one(d).await {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate_key(&e) => Err(Error::conflict("definition", def.name.clone())),
        Err(e) => Err(store.err("insert definition", e)),
    }
}

pub(super) async fn update_definition(store: &MongoStore, def: &Definition) -> Result<()> {
    let mut d = to_doc("definition", &def.name, def)?;
    d.insert("_id", def.name.clone());
    let res = store
        .definitions
        .replace_one(doc! {"_id": &def.name}, d)
        .await
        .map_err(|e| store.err("update definition", e))?;
    if res.matched_count == 0 {
        return Err(Error::not_found("definition", def.name.clone()));
    }
    Ok(())
}

pub(super) async fn get_definition(store: &MongoStore, name: &str) -> Result<Option<Definition>> {
    store
        .definitions
        .find_one(doc! {"_id": name})
        .await
        .map_err(|e| store.err("read definition", e))?
        .map(|d| from_doc(DEFINITIONS, d, &[]))
        .transpose()
}

pub(super) async fn list_definitions(store: &MongoStore) -> Result<Vec<Definition>> {
    store.list_all(&store.definitions, DEFINITIONS).await
}

pub(super) async fn delete_definition(store: &MongoStore, name: &str) -> Result<bool> {
    let res = store
        .definitions
        .delete_one(doc! {"_id": name})
        .await
        .map_err(|e| store.err("delete definition", e))?;
    Ok(res.deleted_count > 0)
}

pub(super) async fn register_service(store: &MongoStore, service: &ServiceRecord) -> Result<()> {
    let mut d = to_doc("service", &service.id, service)?;
    d.insert("_id", service.id.clone());
    store
        .services
        .replace_one(doc! {"_id": &service.id}, d)
        .upsert(true)
        .await
        .map_err(|e| store.err("register service", e))?;
    Ok(())
}

pub(super) async fn heartbeat(
    store: &MongoStore,
    service_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let at = serde_json::to_value(at)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| ts(at));
    let res = store
        .services
        .update_one(doc! {"_id": service_id}, doc! {"$set": {"last_seen": at}})
        .await
        .map_err(|e| store.err("heartbeat", e))?;
    if res.matched_count == 0 {
        return Err(Error::not_found("service", service_id));
    }
    Ok(())
}

pub(super) async fn remove_service(store: &MongoStore, service_id: &str) -> Result<()> {
    store
        .services
        .delete_one(doc! {"_id": service_id})
        .await
        .map_err(|e| store.err("remove service", e))?;
    Ok(())
}

pub(super) async fn list_services(store: &MongoStore) -> Result<Vec<ServiceRecord>> {
    store.list_all(&store.services, SERVICES).await
}

pub(super) async fn upsert_topics(store: &MongoStore, topics: &[TopicRecord]) -> Result<()> {
    for t in topics {
        // One atomic upsert per topic: the consumer list is a set union
        // ($addToSet), so services registering concurrently lose nothing.
        let mut fields = to_doc("topic", &t.name, t)?;
        let consumers = fields
            .remove("consumers")
            .unwrap_or_else(|| Bson::Array(Vec::new()));
        store
            .topics
            .update_one(
                doc! {"_id": &t.name},
                doc! {
                    "$set": fields,
                    "$addToSet": {"consumers": {"$each": consumers}},
                },
            )
            .upsert(true)
            .await
            .map_err(|e| store.err("upsert topic", e))?;
    }
    Ok(())
}

pub(super) async fn list_topics(store: &MongoStore) -> Result<Vec<TopicRecord>> {
    let mut topics: Vec<TopicRecord> = store.list_all(&store.topics, TOPICS).await?;
    for t in &mut topics {
        t.consumers.sort();
    }
    Ok(topics)
}

pub(super) async fn claim_tick(store: &MongoStore, key: &str, due: DateTime<Utc>) -> Result<bool> {
    let ticks = store.db.collection::<Document>(TICKS);
    let due_ms = due.timestamp_millis();
    // Move an older tick forward; else create the first one. Two claimants
    // of a new key meet at the unique _id: one insert wins.
    let moved = ticks
        .update_one(
            doc! {"_id": key, "due_ms": {"$lt": due_ms}},
            doc! {"$set": {"due_ms": due_ms}},
        )
        .await
        .map_err(|e| store.err("claim schedule tick", e))?;
    if moved.matched_count == 1 {
        return Ok(true);
    }
    match ticks.insert_one(doc! {"_id": key, "due_ms": due_ms}).await {
        Ok(_) => Ok(true),
        Err(e) if is_duplicate_key(&e) => Ok(false),
        Err(e) => Err(store.err("claim schedule tick", e)),
    }
}

pub(super) async fn last_tick(store: &MongoStore, key: &str) -> Result<Option<DateTime<Utc>>> {
    let ticks = store.db.collection::<Document>(TICKS);
    let found = ticks
        .find_one(doc! {"_id": key})
        .await
        .map_err(|e| store.err("read schedule tick", e))?;
    Ok(found
        .and_then(|d| d.get_i64("due_ms").ok())
        .and_then(DateTime::from_timestamp_millis))
}

impl MongoStore {
    /// Every document of `coll` (named `name`), by `_id`.
    async fn list_all<T: DeserializeOwned>(
        &self,
        coll: &Collection<Document>,
        name: &str,
    ) -> Result<Vec<T>> {
        let mut cursor = coll
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .map_err(|e| self.err(&format!("list {name}"), e))?;
        let mut out = Vec::new();
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(|e| self.err(&format!("list {name}"), e))?
        {
            out.push(from_doc(name, d, &[])?);
        }
        Ok(out)
    }
}
