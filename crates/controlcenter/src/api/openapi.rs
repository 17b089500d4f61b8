//! The OpenAPI 3 document served at `/api/v1/openapi.json`, written by hand.
//!
//! It may use only `serde_json`: it describes the routes, it does not import
//! them.

use serde_json::{json, Value};

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

fn body(schema: &str) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

/// The OpenAPI document of the whole API (every path of [`super::ROUTES`]).
///
/// ```
/// let doc = controlcenter::api::openapi_document();
/// assert_eq!(doc["openapi"], "3.0.3");
/// assert!(doc["paths"]["/api/v1/runs/{id}/status"]["get"].is_object());
/// ```
pub fn document() -> Value {
    let unauthorized = error("Missing or wrong bearer token");
    let unavailable = error("The broker or the store is unavailable");
    let run_id = path_param("id", "Run id (UUID)");
    let def_name = path_param("name", "Definition name");
    let run_action = |summary: &str, code: &str, what: &str| {
        json!({
            "post": {
                "summary": summary,
                "parameters": [run_id.clone()],
                "responses": {
                    code: ok(what, "Run"),
                    "400": error("Malformed run id"),
                    "401": unauthorized.clone(),
                    "404": error("No such run"),
                    "409": error("The run is in the wrong state for this"),
                    "503": unavailable.clone()
                }
            }
        })
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Isoqube control center API",
            "version": "1",
            "description": "Define, start and watch runs. Every endpoint but health and webhooks \
                needs `Authorization: Bearer <token>`. Errors are `{\"error\": \"...\"}`: \
                400 unreadable request (the message names the field), 401 no or wrong token, \
                404 not found, 409 duplicate name or wrong run state, 413 body too large, \
                415 not JSON, 422 definition breaks a rule, 503 broker or store unavailable."
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/health": { "get": {
                "summary": "Liveness", "security": [],
                "responses": { "200": ok("Alive", "Health") }
            }},
            "/health/live": { "get": {
                "summary": "Liveness", "security": [],
                "responses": { "200": ok("Alive", "Health") }
            }},
            "/health/ready": { "get": {
                "summary": "Readiness: the store answers and the broker is connected", "security": [],
                "responses": { "200": ok("Ready", "Health"), "503": ok("Not ready", "Health") }
            }},
            "/api/v1/openapi.json": { "get": {
                "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3 document" }, "401": unauthorized }
            }},
            "/api/v1/events": { "get": {
                "summary": "Registered events with their consumers and hosting services",
                "responses": { "200": ok("Events", "EventList"), "401": unauthorized, "503": unavailable }
            }},
            "/api/v1/services": { "get": {
                "summary": "Service instances with heartbeat and liveness",
                "responses": { "200": ok("Services", "ServiceList"), "401": unauthorized, "503": unavailable }
            }},
            "/api/v1/definitions": {
                "get": {
                    "summary": "Every definition, by name",
                    "responses": { "200": ok("Definitions", "DefinitionList"), "401": unauthorized, "503": unavailable }
                },
                "post": {
                    "summary": "Create a definition",
                    "requestBody": body("DefinitionInput"),
                    "responses": {
                        "201": ok("Created (Location header names it)", "Definition"),
                        "400": error("Unreadable body or unknown field"),
                        "401": unauthorized,
                        "409": error("A definition with this name exists"),
                        "413": error("Body too large"),
                        "415": error("Body is not JSON"),
                        "422": error("The definition breaks a rule (unknown event, empty name, ...)"),
                        "503": unavailable
                    }
                }
            },
            "/api/v1/definitions/{name}": {
                "get": {
                    "summary": "One definition",
                    "parameters": [def_name.clone()],
                    "responses": { "200": ok("The definition", "Definition"), "401": unauthorized, "404": error("No such definition"), "503": unavailable }
                },
                "put": {
                    "summary": "Replace a definition (a webhook secret of \"***\" keeps the stored one)",
                    "parameters": [def_name.clone()],
                    "requestBody": body("DefinitionInput"),
                    "responses": {
                        "200": ok("Saved", "Definition"),
                        "400": error("Unreadable body, unknown field, or a name that differs from the path"),
                        "401": unauthorized,
                        "404": error("No such definition"),
                        "413": error("Body too large"),
                        "415": error("Body is not JSON"),
                        "422": error("The definition breaks a rule"),
                        "503": unavailable
                    }
                },
                "delete": {
                    "summary": "Delete a definition (its runs are kept)",
                    "parameters": [def_name],
                    "responses": { "204": { "description": "Deleted" }, "401": unauthorized, "404": error("No such definition"), "503": unavailable }
                }
            },
            "/api/v1/runs": {
                "get": {
                    "summary": "Runs, newest first, paged",
                    "parameters": [
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } },
                        { "name": "before", "in": "query", "description": "Only runs created before this time: pass `next_before` of the previous page", "schema": { "type": "string", "format": "date-time" } },
                        { "name": "before_id", "in": "query", "description": "With `before`: also the runs created at exactly `before` whose id sorts below this one; pass `next_before_id` of the previous page", "schema": { "type": "string", "format": "uuid" } },
                        { "name": "status", "in": "query", "schema": { "$ref": "#/components/schemas/RunStatus" } },
                        { "name": "definition", "in": "query", "schema": { "type": "string" } }
                    ],
                    "responses": { "200": ok("A page of runs", "RunPage"), "400": error("Bad query parameter"), "401": unauthorized, "503": unavailable }
                },
                "post": {
                    "summary": "Start a run",
                    "requestBody": body("StartRun"),
                    "responses": {
                        "201": ok("Started (Location header names the run)", "Run"),
                        "400": error("Unreadable body or unknown field"),
                        "401": unauthorized,
                        "404": error("No such definition"),
                        "413": error("Body too large"),
                        "415": error("Body is not JSON"),
                        "503": unavailable
                    }
                }
            },
            "/api/v1/runs/{id}": { "get": {
                "summary": "One run with its steps",
                "parameters": [run_id.clone()],
                "responses": { "200": ok("The run", "Run"), "400": error("Malformed run id"), "401": unauthorized, "404": error("No such run"), "503": unavailable }
            }},
            "/api/v1/runs/{id}/status": { "get": {
                "summary": "Where a run is, as a status code",
                "parameters": [run_id.clone()],
                "responses": {
                    "200": ok("Succeeded", "Run"),
                    "202": ok("Pending or running", "Run"),
                    "400": error("Malformed run id"),
                    "401": unauthorized,
                    "404": error("No such run"),
                    "409": ok("Failed or cancelled", "Run"),
                    "503": unavailable
                }
            }},
            "/api/v1/runs/{id}/events": { "get": {
                "summary": "Server-sent events: one `run` event (data: the run, id: its version) per change; the stream ends when the run is finished",
                "parameters": [run_id.clone(), { "name": "Last-Event-ID", "in": "header", "description": "Resume after this version", "schema": { "type": "integer" } }],
                "responses": {
                    "200": { "description": "The event stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                    "400": error("Malformed run id"),
                    "401": unauthorized,
                    "404": error("No such run"),
                    "503": unavailable
                }
            }},
            "/api/v1/runs/{id}/rerun": run_action("Start a new run with the same definition and variables", "201", "The new run (Location header names it)"),
            "/api/v1/runs/{id}/resume": run_action("Continue a failed or cancelled run from its failed step", "200", "The resumed run"),
            "/api/v1/runs/{id}/cancel": run_action("Cancel a pending or running run", "200", "The cancelled run"),
            "/hooks/{id}": { "post": {
                "summary": "A definition's webhook: starts a run with the body's fields over the definition's variables",
                "security": [],
                "parameters": [
                    path_param("id", "Webhook id"),
                    { "name": "X-Isoqube-Secret", "in": "header", "required": true, "description": "The webhook's secret", "schema": { "type": "string" } }
                ],
                "requestBody": { "required": false, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": true } } } },
                "responses": {
                    "202": ok("Run started (Location header names it)", "HookAccepted"),
                    "400": error("The body is not a JSON object"),
                    "401": error("Missing or wrong secret"),
                    "404": error("No such webhook"),
                    "413": error("Body too large"),
                    "503": unavailable
                }
            }}
        },
        "components": components()
    })
}

fn components() -> Value {
    let mut c = json!({ "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } });
    c["schemas"] = schemas();
    c
}

fn schemas() -> Value {
    json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
        "Health": { "type": "object", "properties": { "status": { "type": "string" } }, "additionalProperties": true },
        "RunStatus": { "type": "string", "enum": ["Pending", "Running", "Succeeded", "Failed", "Cancelled"] },
        "StepStatus": { "type": "string", "enum": ["Pending", "Invoked", "Succeeded", "Failed", "Cancelled", "Skipped"] },
        "Variables": { "type": "object", "additionalProperties": true },
        "Event": { "type": "object", "properties": {
            "name": { "type": "string" }, "description": { "type": "string" },
            "exchange": { "type": "string" }, "message_type": { "type": "string" },
            "consumers": { "type": "array", "items": { "type": "object", "properties": {
                "endpoint": { "type": "string" }, "services": { "type": "array", "items": { "type": "string" } } } } }
        }},
        "EventList": { "type": "object", "properties": { "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } } } },
        "Service": { "type": "object", "additionalProperties": true, "properties": {
            "name": { "type": "string" }, "host": { "type": "string" },
            "heartbeat_age_secs": { "type": "integer" }, "alive": { "type": "boolean" } } },
        "ServiceList": { "type": "object", "properties": { "services": { "type": "array", "items": { "$ref": "#/components/schemas/Service" } } } },
        "Webhook": { "type": "object", "required": ["id", "secret"], "additionalProperties": false, "properties": {
            "id": { "type": "string", "description": "8-100 letters, digits, '-' or '_'" },
            "secret": { "type": "string", "description": "At least 16 characters; shown as \"***\"" } } },
        "Schedule": { "type": "object", "required": ["id", "when"], "properties": {
            "id": { "type": "string" },
            "when": { "type": "object", "description": "{\"kind\": \"cron\", \"expr\", \"tz\"} | {\"kind\": \"interval\", \"every_secs\"} | {\"kind\": \"once\", \"at\"}" },
            "missed": { "type": "string", "enum": ["skip", "run-once"] },
            "enabled": { "type": "boolean" },
            "variables": { "$ref": "#/components/schemas/Variables" } } },
        "DefinitionInput": { "type": "object", "required": ["steps"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "description": "Required on create; on update, must equal the path" },
            "description": { "type": "string" },
            "steps": { "type": "array", "items": { "type": "string" }, "description": "Event names, in order" },
            "variables": { "$ref": "#/components/schemas/Variables" },
            "webhook": { "$ref": "#/components/schemas/Webhook" },
            "schedules": { "type": "array", "items": { "$ref": "#/components/schemas/Schedule" } },
            "created_at": { "type": "string", "description": "Ignored" },
            "modified_at": { "type": "string", "description": "Ignored" } } },
        "Definition": { "type": "object", "properties": {
            "name": { "type": "string" }, "description": { "type": "string" },
            "steps": { "type": "array", "items": { "type": "string" } },
            "variables": { "$ref": "#/components/schemas/Variables" },
            "webhook": { "$ref": "#/components/schemas/Webhook" },
            "schedules": { "type": "array", "items": { "$ref": "#/components/schemas/Schedule" } },
            "created_at": { "type": "string", "format": "date-time" },
            "modified_at": { "type": "string", "format": "date-time" } } },
        "DefinitionList": { "type": "object", "properties": { "definitions": { "type": "array", "items": { "$ref": "#/components/schemas/Definition" } } } },
        "StartRun": { "type": "object", "required": ["definition"], "additionalProperties": false, "properties": {
            "definition": { "type": "string" },
            "variables": { "$ref": "#/components/schemas/Variables" } } },
        "Step": { "type": "object", "additionalProperties": true, "properties": {
            "event": { "type": "string" }, "status": { "$ref": "#/components/schemas/StepStatus" } } },
        "Run": { "type": "object", "additionalProperties": true, "properties": {
            "id": { "type": "string", "format": "uuid" },
            "definition": { "type": "string" },
            "description": { "type": "string" },
            "status": { "$ref": "#/components/schemas/RunStatus" },
            "params": { "$ref": "#/components/schemas/Variables" },
            "variables": { "$ref": "#/components/schemas/Variables" },
            "steps": { "type": "array", "items": { "$ref": "#/components/schemas/Step" } },
            "created_at": { "type": "string", "format": "date-time" },
            "modified_at": { "type": "string", "format": "date-time" },
            "finished_at": { "type": "string", "format": "date-time", "nullable": true },
            "started_by": { "type": "string" },
            "rerun_of": { "type": "string", "format": "uuid", "nullable": true },
            "error": { "type": "string", "nullable": true },
            "version": { "type": "integer" } } },
        "RunPage": { "type": "object", "properties": {
            "runs": { "type": "array", "items": { "$ref": "#/components/schemas/Run" } },
            "next_before": { "type": "string", "format": "date-time", "nullable": true },
            "next_before_id": { "type": "string", "format": "uuid", "nullable": true } } },
        "HookAccepted": { "type": "object", "properties": {
            "run_id": { "type": "string", "format": "uuid" },
            "definition": { "type": "string" },
            "status": { "$ref": "#/components/schemas/RunStatus" } } }
    })
}
