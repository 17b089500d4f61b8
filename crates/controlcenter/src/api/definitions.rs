//! The definition endpoints: list, create, read, replace, delete. Webhook
//! secrets never leave the server: every answer shows them as `"***"`, and a
//! replace that sends `"***"` back keeps the stored secret.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state and
//! the API's shared parts.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use isoqube::schedule::{Schedule, Webhook};
use isoqube::{Definition, StepDef, Variables};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;
use utoipa::ToSchema;

use super::common::{location, ApiResult, ErrorBody, Seg};
use super::openapi::{BodyRefused, NeedsToken, ServerTrouble};
use super::{encode_segment, ApiError, AppState, Body};
use crate::ops::{definition_view, DefinitionView};

/// What a webhook secret looks like in every answer.
pub(crate) const REDACTED: &str = crate::ops::REDACTED_SECRET;

/// A definition as a client replaces it (`PUT`). Timestamps are accepted (so
/// a `GET` answer can be sent back) but the server sets them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DefinitionInput)]
pub(crate) struct DefinitionBody {
    /// Optional: when given, it must equal the name in the path (definitions
    /// cannot be renamed; another name is a 422).
    #[serde(default)]
    name: Option<String>,
    /// What it is for.
    #[serde(default)]
    description: String,
    /// The steps: event names (each after the one before it) or step
    /// objects (`after`, `name`, `compensate`, `timeout`, `optional`), as in a
    /// definition file; each event must be registered and the graph must hold
    /// (else a 422).
    #[schema(value_type = Vec<isoqube::model::StepDefSchema>)]
    steps: Vec<Value>,
    /// Variables every run starts with.
    #[serde(default)]
    #[schema(value_type = isoqube::model::VariablesSchema)]
    variables: Variables,
    /// Lets `POST /hooks/{id}` start runs; absent or `null`: no webhook (a
    /// replace without one removes the stored one).
    #[serde(default)]
    webhook: Option<WebhookBody>,
    /// When runs start by themselves.
    #[serde(default)]
    schedules: Vec<Schedule>,
    /// The priority of its runs, 0 (default) to 9.
    #[serde(default, deserialize_with = "priority_number")]
    #[schema(value_type = u8, minimum = 0, maximum = 9)]
    priority: u8,
    /// Ignored: the server sets it.
    #[serde(default, rename = "created_at")]
    _created_at: Option<Value>,
    /// Ignored: the server sets it.
    #[serde(default, rename = "modified_at")]
    _modified_at: Option<Value>,
    /// Ignored: the server computes it from the schedules.
    #[serde(default, rename = "next_due")]
    _next_due: Option<Value>,
}

/// A definition as a client creates it (`POST`): [`DefinitionBody`] with a
/// required name. Timestamps are accepted but the server sets them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewDefinitionInput)]
pub(crate) struct NewDefinitionBody {
    /// Unique: 1-100 ASCII letters, digits, `-`, `_` or `.`, starting with a
    /// letter or digit (else a 422).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    name: String,
    /// What it is for.
    #[serde(default)]
    description: String,
    /// The steps: event names (each after the one before it) or step
    /// objects (`after`, `name`, `compensate`, `timeout`, `optional`), as in a
    /// definition file; each event must be registered and the graph must hold
    /// (else a 422).
    #[schema(value_type = Vec<isoqube::model::StepDefSchema>)]
    steps: Vec<Value>,
    /// Variables every run starts with.
    #[serde(default)]
    #[schema(value_type = isoqube::model::VariablesSchema)]
    variables: Variables,
    /// Lets `POST /hooks/{id}` start runs; absent or `null`: no webhook.
    #[serde(default)]
    webhook: Option<WebhookBody>,
    /// When runs start by themselves.
    #[serde(default)]
    schedules: Vec<Schedule>,
    /// The priority of its runs, 0 (default) to 9.
    #[serde(default, deserialize_with = "priority_number")]
    #[schema(value_type = u8, minimum = 0, maximum = 9)]
    priority: u8,
    /// Ignored: the server sets it.
    #[serde(default, rename = "created_at")]
    _created_at: Option<Value>,
    /// Ignored: the server sets it.
    #[serde(default, rename = "modified_at")]
    _modified_at: Option<Value>,
    /// Ignored: the server computes it from the schedules.
    #[serde(default, rename = "next_due")]
    _next_due: Option<Value>,
}

/// A priority as JSON writes an integer: `3` or `3.0` (JSON Schema's
/// `integer` takes both); anything else, or above 255, is refused here and
/// above 9 by the definition's validation (a 422).
pub(crate) fn priority_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    priority_of(f64::deserialize(d)?)
}

fn priority_of<E: serde::de::Error>(n: f64) -> Result<u8, E> {
    if n.fract() == 0.0 && (0.0..=255.0).contains(&n) {
        // Integral and in range: the cast is exact.
        Ok(n as u8)
    } else {
        Err(E::custom(format!(
            "priority {n} is not an integer from 0 to 9"
        )))
    }
}

/// [`priority_number`] for a field that may be left out or `null` (`PATCH`:
/// either keeps the stored priority).
fn some_priority<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    Option::<f64>::deserialize(d)?.map(priority_of).transpose()
}

impl From<NewDefinitionBody> for DefinitionBody {
    fn from(b: NewDefinitionBody) -> Self {
        DefinitionBody {
            name: Some(b.name),
            description: b.description,
            steps: b.steps,
            variables: b.variables,
            webhook: b.webhook,
            schedules: b.schedules,
            priority: b.priority,
            _created_at: b._created_at,
            _modified_at: b._modified_at,
            _next_due: b._next_due,
        }
    }
}

/// A change to some fields of a definition (`PATCH`): a field left out
/// keeps its value, a field given replaces it whole, `"webhook": null`
/// removes the webhook. Timestamps are accepted but the server sets them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DefinitionPatch)]
pub(crate) struct PatchBody {
    /// Optional: when given, it must equal the name in the path (else a 422).
    #[serde(default)]
    name: Option<String>,
    /// What it is for.
    #[serde(default)]
    description: Option<String>,
    /// The steps, as in a replace.
    #[serde(default)]
    #[schema(value_type = Option<Vec<isoqube::model::StepDefSchema>>)]
    steps: Option<Vec<Value>>,
    /// Variables every run starts with (all of them: the object replaces the stored one).
    #[serde(default)]
    #[schema(value_type = Option<isoqube::model::VariablesSchema>)]
    variables: Option<Variables>,
    /// The webhook; `null` removes it; a secret of `"***"` keeps the stored one.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<WebhookBody>, nullable)]
    webhook: Option<Option<WebhookBody>>,
    /// When runs start by themselves (all of them).
    #[serde(default)]
    schedules: Option<Vec<Schedule>>,
    /// The priority of its runs, 0 to 9 (`null`: kept).
    #[serde(default, deserialize_with = "some_priority")]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 9)]
    priority: Option<u8>,
    /// Ignored: the server sets it.
    #[serde(default, rename = "created_at")]
    _created_at: Option<Value>,
    /// Ignored: the server sets it.
    #[serde(default, rename = "modified_at")]
    _modified_at: Option<Value>,
    /// Ignored: the server computes it from the schedules.
    #[serde(default, rename = "next_due")]
    _next_due: Option<Value>,
}

/// A field that is present (`null` included), for [`PatchBody::webhook`].
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The stored webhook secret kept when `"***"` (what every answer shows) is sent back.
fn webhook_of(w: WebhookBody, existing: Option<&Definition>) -> Webhook {
    let secret = match (w.secret.as_str(), existing.and_then(|d| d.webhook.as_ref())) {
        (REDACTED, Some(old)) => old.secret.clone(),
        _ => w.secret,
    };
    Webhook { id: w.id, secret }
}

/// A 422 when a body's `name` is not the path's.
fn same_name(given: Option<&String>, name: &str) -> ApiResult<()> {
    match given {
        Some(given) if given != name => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "field `name` ('{given}') differs from the name in the path ('{name}'); \
                 definitions cannot be renamed"
            ),
        )),
        _ => Ok(()),
    }
}

/// A definition's webhook as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookInput)]
struct WebhookBody {
    /// 8-100 letters, digits, `-` or `_`: the id in the URL.
    #[schema(pattern = "^[A-Za-z0-9_-]{8,100}$")]
    id: String,
    /// At least 16 characters; `"***"` on replace keeps the stored secret.
    secret: String,
}

impl DefinitionBody {
    fn into_definition(self, name: String, existing: Option<&Definition>) -> ApiResult<Definition> {
        let webhook = self.webhook.map(|w| webhook_of(w, existing));
        let mut def = Definition::new(name, steps_of(self.steps)?)
            .with_description(self.description)
            .with_variables(self.variables)
            .with_priority(self.priority);
        def.webhook = webhook;
        def.schedules = self.schedules;
        Ok(def)
    }
}

/// The steps as sent, read here rather than with the body: a step of the
/// wrong shape is a 400, but one that fits the schema and breaks a rule no
/// JSON Schema states (a wait step without a timeout, `correlate` on a step
/// that publishes, a timeout that is no duration) is a 422 naming it, as
/// the definition's other rules are.
fn steps_of(steps: Vec<Value>) -> ApiResult<Vec<StepDef>> {
    steps
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            StepDef::deserialize(step).map_err(|e| {
                let why = e.to_string();
                // StepDef's own answer to a step that is neither form.
                let status = if why.starts_with("a step is an event name or an object") {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                ApiError::new(status, format!("steps[{i}]: {why}"))
            })
        })
        .collect()
}

/// `GET /definitions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DefinitionList {
    /// By name, webhook secrets shown as `"***"`.
    definitions: Vec<DefinitionView>,
}

/// A definition as every answer shows it (the CLI's `--json` too): the
/// webhook secret redacted, with `next_due`.
pub(crate) fn redacted(def: Definition) -> DefinitionView {
    definition_view(def, chrono::Utc::now())
}

/// Every definition, by name.
#[utoipa::path(
    get,
    path = "/definitions",
    tag = "definitions",
    responses(
        (status = 200, description = "Definitions (webhook secrets shown as \"***\")", body = DefinitionList),
        NeedsToken,
        ServerTrouble
    )
)]
pub(crate) async fn list_definitions(
    State(st): State<AppState>,
) -> ApiResult<Json<DefinitionList>> {
    let definitions = st
        .op
        .definitions()
        .await?
        .into_iter()
        .map(redacted)
        .collect();
    Ok(Json(DefinitionList { definitions }))
}

/// Create a definition.
#[utoipa::path(
    post,
    path = "/definitions",
    tag = "definitions",
    request_body = NewDefinitionBody,
    responses(
        (status = 201, description = "Created", body = DefinitionView,
            headers(("Location" = String, description = "The definition's path"))),
        (status = 400, description = "Unreadable body, unknown, missing or mistyped field", body = ErrorBody),
        NeedsToken,
        (status = 409, description = "A definition with this name exists", body = ErrorBody),
        BodyRefused,
        (status = 422, description = "The definition breaks a rule (unknown event, a wait step without a timeout, empty name, bad schedule or webhook); nothing was written", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn create_definition(
    State(st): State<AppState>,
    Body(body): Body<NewDefinitionBody>,
) -> ApiResult {
    let name = body.name.clone();
    let loc = location(&format!("/api/v1/definitions/{}", encode_segment(&name)))?;
    let def = st
        .op
        .create_definition(DefinitionBody::from(body).into_definition(name, None)?)
        .await?;
    info!(definition = %def.name, "definition created over the API");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, loc)],
        Json(redacted(def)),
    )
        .into_response())
}

/// One definition.
#[utoipa::path(
    get,
    path = "/definitions/{name}",
    tag = "definitions",
    params(("name" = String, Path, description = "Definition name")),
    responses(
        (status = 200, description = "The definition (webhook secret shown as \"***\")", body = DefinitionView),
        (status = 400, description = "The name in the path cannot be decoded", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such definition", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn get_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
) -> ApiResult<Json<DefinitionView>> {
    Ok(Json(redacted(st.op.definition(&name).await?)))
}

/// Replace a definition (a webhook secret of `"***"` keeps the stored one).
#[utoipa::path(
    put,
    path = "/definitions/{name}",
    tag = "definitions",
    params(("name" = String, Path, description = "Definition name")),
    request_body = DefinitionBody,
    responses(
        (status = 200, description = "Saved", body = DefinitionView),
        (status = 400, description = "Unreadable body, unknown or mistyped field, or a name in the path that cannot be decoded", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such definition", body = ErrorBody),
        BodyRefused,
        (status = 422, description = "The definition breaks a rule (unknown event, a wait step without a timeout, bad schedule or webhook, a name that differs from the path); nothing was written", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn update_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
    Body(body): Body<DefinitionBody>,
) -> ApiResult<Json<DefinitionView>> {
    // Well-formed but against a rule, like an unknown event: 422.
    same_name(body.name.as_ref(), &name)?;
    let existing = st.op.definition(&name).await?;
    let def = st
        .op
        .update_definition(body.into_definition(name, Some(&existing))?)
        .await?;
    info!(definition = %def.name, "definition updated over the API");
    Ok(Json(redacted(def)))
}

/// Delete a definition (its runs are kept).
#[utoipa::path(
    delete,
    path = "/definitions/{name}",
    tag = "definitions",
    params(("name" = String, Path, description = "Definition name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The name in the path cannot be decoded", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such definition", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn delete_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
) -> ApiResult<StatusCode> {
    st.op.delete_definition(&name).await?;
    info!(definition = %name, "definition deleted over the API");
    Ok(StatusCode::NO_CONTENT)
}

/// Change some fields of a definition: a field left out keeps its value
/// (`"webhook": null` removes the webhook; a secret of `"***"` keeps it).
#[utoipa::path(
    patch,
    path = "/definitions/{name}",
    tag = "definitions",
    params(("name" = String, Path, description = "Definition name")),
    request_body = PatchBody,
    responses(
        (status = 200, description = "Saved", body = DefinitionView),
        (status = 400, description = "Unreadable body, unknown or mistyped field, or a name in the path that cannot be decoded", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such definition", body = ErrorBody),
        BodyRefused,
        (status = 422, description = "The changed definition breaks a rule (unknown event, a wait step without a timeout, bad schedule or webhook, a name that differs from the path); nothing was written", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn patch_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
    Body(body): Body<Value>,
) -> ApiResult<Json<DefinitionView>> {
    // Serde would read a struct from an array too; a patch is an object.
    if !body.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    // Read again through axum's reader, so a mistyped field is named.
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Json(body) = Json::<PatchBody>::from_bytes(&bytes).map_err(super::json_rejection)?;
    same_name(body.name.as_ref(), &name)?;
    let existing = st.op.definition(&name).await?;
    let mut def = existing.clone();
    if let Some(d) = body.description {
        def.description = d;
    }
    if let Some(steps) = body.steps {
        def.steps = steps_of(steps)?;
    }
    if let Some(v) = body.variables {
        def.variables = v;
    }
    if let Some(hook) = body.webhook {
        def.webhook = hook.map(|w| webhook_of(w, Some(&existing)));
    }
    if let Some(s) = body.schedules {
        def.schedules = s;
    }
    if let Some(p) = body.priority {
        def.priority = p;
    }
    let def = st.op.update_definition(def).await?;
    info!(definition = %def.name, "definition changed over the API");
    Ok(Json(redacted(def)))
}
