//! Model layer: the rule every store needs of run variables' names (no NUL
//! character, at any depth: MongoDB's BSON field names end at a NUL, so such
//! a name cannot be stored) and, with the `openapi` feature, the schema that
//! states it. Uses only serde_json (and utoipa for the schema).

use super::Variables;
use serde_json::Value;

/// The first variable name, at any depth, holding a NUL character, as a path
/// (`outer.inner`, `list[2].name`) with the NUL shown as `\0`; `None` when
/// there is none.
///
/// ```
/// use serde_json::json;
/// let vars = |v: serde_json::Value| v.as_object().cloned().unwrap();
/// assert_eq!(isoqube::model::nul_in_variable_names(&vars(json!({"a": {"b": [1, {"c": 2}]}}))), None);
/// assert_eq!(
///     isoqube::model::nul_in_variable_names(&vars(json!({"a": [0, {"b\u{0}": 1}]}))).as_deref(),
///     Some("a[1].b\\0")
/// );
/// ```
pub fn nul_in_variable_names(vars: &Variables) -> Option<String> {
    fn in_object(map: &Variables, at: &str) -> Option<String> {
        map.iter().find_map(|(name, value)| {
            let path = if at.is_empty() {
                name.replace('\0', "\\0")
            } else {
                format!("{at}.{}", name.replace('\0', "\\0"))
            };
            if name.contains('\0') {
                Some(path)
            } else {
                in_value(value, &path)
            }
        })
    }
    fn in_value(value: &Value, at: &str) -> Option<String> {
        match value {
            Value::Object(map) => in_object(map, at),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| in_value(v, &format!("{at}[{i}]"))),
            _ => None,
        }
    }
    in_object(vars, "")
}

/// The OpenAPI schema of [`Variables`] (named `Variables`): a JSON object
/// whose names, at any depth, hold no NUL character. Only described.
#[cfg(feature = "openapi")]
pub struct VariablesSchema;

/// Any JSON value inside [`VariablesSchema`] (named `VariableValue`).
#[cfg(feature = "openapi")]
pub struct VariableValueSchema;

#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::schema::{
        AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
    };
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{PartialSchema, ToSchema};

    use super::{VariableValueSchema, VariablesSchema};

    impl PartialSchema for VariablesSchema {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "Variables: a JSON object. No name, at any depth, may hold a NUL character \
                     (no store can keep one).",
                ))
                .property_names(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[^\\x00]*$")),
                ))
                .additional_properties(Some(RefOr::Ref(Ref::from_schema_name("VariableValue"))))
                .into()
        }
    }

    impl ToSchema for VariablesSchema {
        fn name() -> std::borrow::Cow<'static, str> {
            "Variables".into()
        }
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((
                VariableValueSchema::name().into_owned(),
                VariableValueSchema::schema(),
            ));
        }
    }

    impl PartialSchema for VariableValueSchema {
        fn schema() -> RefOr<Schema> {
            let scalar = ObjectBuilder::new().schema_type(
                [Type::Null, Type::Boolean, Type::Number, Type::String]
                    .into_iter()
                    .collect::<SchemaType>(),
            );
            let list =
                ArrayBuilder::new().items(RefOr::Ref(Ref::from_schema_name("VariableValue")));
            AnyOfBuilder::new()
                .description(Some(
                    "Any JSON value; an object inside follows the rule of `Variables`.",
                ))
                .item(scalar)
                .item(list)
                .item(RefOr::Ref(Ref::from_schema_name("Variables")))
                .into()
        }
    }

    impl ToSchema for VariableValueSchema {
        fn name() -> std::borrow::Cow<'static, str> {
            "VariableValue".into()
        }
    }
}
