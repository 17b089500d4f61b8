//! The OpenAPI document as a contract: which operations it lists, which
//! concrete path is an instance of which documented one, and whether every
//! answer the tests got has a declared status and fits the declared schema.
//! The HTTP client in `api.rs` records every answer here.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use controlcenter::api;
use serde_json::{json, Value};

/// One answer a test got, for the contract check.
#[derive(Debug, Clone)]
pub struct Answer {
    pub addr: SocketAddr,
    pub method: String,
    /// Without the query.
    pub path: String,
    pub status: u16,
    /// The body, when it is JSON.
    pub json: Option<Value>,
}

/// Every answer any test got.
pub fn answers() -> &'static Mutex<Vec<Answer>> {
    static ANSWERS: OnceLock<Mutex<Vec<Answer>>> = OnceLock::new();
    ANSWERS.get_or_init(Default::default)
}

/// Every operation of the document: (method, path, needs the API token).
pub fn documented(doc: &Value) -> Vec<(String, String, bool)> {
    let open = |op: &Value| {
        op.get("security")
            .and_then(Value::as_array)
            .is_some_and(|reqs| reqs.is_empty() || reqs.iter().any(|r| r == &json!({})))
    };
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.to_ascii_uppercase(), path.clone(), !open(op)));
        }
    }
    out
}

/// A path template with its parameters filled in.
pub fn concrete(template: &str) -> String {
    template
        .replace("{name}", "x")
        .replace("{id}", "00000000-0000-0000-0000-000000000000")
}

/// The documented path a concrete path is an instance of (literal segments
/// preferred over parameters).
fn template_of<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segs: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter_map(|t| {
            let tsegs: Vec<&str> = t.split('/').collect();
            if tsegs.len() != segs.len() {
                return None;
            }
            let mut literal = 0;
            for (t, s) in tsegs.iter().zip(&segs) {
                if t.starts_with('{') && t.ends_with('}') && !s.is_empty() {
                    continue;
                }
                if t != s {
                    return None;
                }
                literal += 1;
            }
            Some((literal, t.as_str()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, t)| t)
}

/// Every answer `addr` gave so far has a status the document declares for
/// its operation (404 and 405 from the fallbacks for undocumented ones), and a
/// JSON body that fits the declared schema.
pub fn answers_are_documented(addr: SocketAddr) {
    let doc = api::openapi_document();
    let seen = answers().lock().map(|a| a.clone()).unwrap_or_default();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for a in seen.iter().filter(|a| a.addr == addr) {
        let (method, path, status) = (&a.method, &a.path, a.status);
        let Some(template) = template_of(&doc, path) else {
            assert_eq!(
                status, 404,
                "{method} {path}: not a route, so the fallback's 404"
            );
            continue;
        };
        let Some(op) = doc["paths"][template].get(method.to_ascii_lowercase()) else {
            assert_eq!(status, 405, "{method} {path}: not a method of {template}");
            continue;
        };
        checked += 1;
        let Some(declared) = op["responses"].get(status.to_string()) else {
            wrong.push(format!(
                "{method} {template} answered {status}: not declared"
            ));
            continue;
        };
        let schema = &declared["content"]["application/json"]["schema"];
        if let (false, Some(body)) = (schema.is_null(), &a.json) {
            if let Err(e) = fits(&doc, schema, body, "body") {
                wrong.push(format!("{method} {template} {status}: {e}"));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "answers that break the document: {wrong:#?}"
    );
    assert!(checked > 0, "no answer of {addr} was checked");
}

/// Whether `value` fits `schema` (the parts of JSON Schema the document
/// uses: `$ref`, `allOf`, `oneOf`, `type`, `enum`, `format` date-time and
/// uuid, `required`, `properties`, `additionalProperties: false`, `items`).
fn fits(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: dangling {r}"));
        }
        return fits(doc, target, value, at);
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            fits(doc, s, value, at)?;
        }
    }
    if let Some(any) = schema["oneOf"].as_array() {
        let errors: Vec<String> = any
            .iter()
            .filter_map(|s| fits(doc, s, value, at).err())
            .collect();
        if errors.len() == any.len() {
            return Err(format!("{at}: fits no alternative: {errors:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == kind || (*t == "number" && kind == "integer"))
    {
        return Err(format!("{at}: {kind}, not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(format), Some(text)) = (schema["format"].as_str(), value.as_str()) {
        let ok = match format {
            "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "uuid" => uuid::Uuid::parse_str(text).is_ok(),
            _ => true,
        };
        if !ok {
            return Err(format!("{at}: '{text}' is not a {format}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                return Err(format!("{at}: no `{key}`"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => fits(doc, s, v, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == json!(false) => {
                    return Err(format!("{at}: `{key}` is not a property"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            fits(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
