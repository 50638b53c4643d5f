//! Reading a request's JSON body and query string into the handler's types, with refusals a
//! person can act on: which field is wrong and what it must be, in the words of the OpenAPI
//! document (the same schema), never serde's or chrono's, and never the value that was sent
//! (it may be a password or a token put in the wrong field).
use crate::error::AppError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::openapi::schema::{ArrayItems, KnownFormat, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema};

/// A parsed JSON body as `T`.
pub fn body<T: DeserializeOwned + PartialSchema>(value: Value) -> Result<T, AppError> {
    if !value.is_object() {
        return Err(AppError::BadRequest(
            "The body must be a JSON object.".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let schema = T::schema();
        refusal(
            &field,
            property(&schema, &field),
            &e.into_inner().to_string(),
        )
    })
}

/// A query string as `P`, refusing any parameter that `P` (the route's documented parameters)
/// does not list.
pub fn query<P: DeserializeOwned + IntoParams>(query: &str) -> Result<P, AppError> {
    only_documented::<P>(query)?;
    let parsed = url::form_urlencoded::parse(query.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(parsed)).map_err(|e| {
        let field = e.path().to_string();
        let params = P::into_params(|| None);
        let schema = params
            .iter()
            .find(|p| p.name == field)
            .and_then(|p| p.schema.as_ref());
        refusal(&field, schema, &e.into_inner().to_string())
    })
}

/// Refuses, naming all of them, the parameters of `query` that `P` does not list: serde's
/// `deny_unknown_fields` would name only the first, in its own words, and the names accepted
/// would not come from the document.
fn only_documented<P: IntoParams>(query: &str) -> Result<(), AppError> {
    let known: Vec<String> = P::into_params(|| None)
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut unknown: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name)
        .filter(|name| !known.iter().any(|k| k == name))
        // A name is a word or two; keep a runaway one from filling the message.
        .map(|name| {
            name.chars()
                .take(40)
                .collect::<String>()
                .escape_default()
                .to_string()
        })
        .collect();
    unknown.sort();
    unknown.dedup();
    if unknown.is_empty() {
        return Ok(());
    }
    let (noun, unknown) = match unknown.as_slice() {
        [one] => ("parameter", format!("\"{one}\"")),
        many => ("parameters", format!("\"{}\"", many.join("\", \""))),
    };
    let takes = if known.is_empty() {
        "no query parameters".to_owned()
    } else {
        known.join(", ")
    };
    Err(AppError::BadRequest(format!(
        "Unknown query {noun} {unknown}; this address takes {takes}."
    )))
}

/// A body that is not JSON at all: where it goes wrong, not what serde expected there.
pub fn syntax(e: &serde_json::Error) -> AppError {
    AppError::BadRequest(format!(
        "The body is not valid JSON (line {}, column {}).",
        e.line(),
        e.column()
    ))
}

/// `message` is serde's (or a field type's own) complaint about `field`; the fields' names
/// are the API's and safe to repeat, its values are not.
fn refusal(field: &str, schema: Option<&RefOr<Schema>>, message: &str) -> AppError {
    // These name a field of the request type, not a value.
    for (start, says) in [
        ("missing field `", "is required"),
        ("duplicate field `", "is given more than once"),
    ] {
        if let Some(rest) = message.strip_prefix(start)
            && let Some((name, _)) = rest.split_once('`')
        {
            return AppError::BadRequest(format!("{name} {says}."));
        }
    }
    let field = match field {
        // serde_path_to_error's name for the whole value.
        "." | "" => "A field",
        f => f,
    };
    // An enum's variants are the only thing its schema (a plain string here) does not say.
    let expected = if message.starts_with("unknown variant") {
        serde_expected(message)
    } else {
        schema
            .and_then(describe)
            .or_else(|| serde_expected(message))
    };
    AppError::BadRequest(match expected {
        Some(e) => format!("{field} must be {e}."),
        None => format!("{field} is not valid here."),
    })
}

/// The schema of what a path such as `name` or `orgIds[0]` names in an object schema.
fn property<'a>(schema: &'a RefOr<Schema>, path: &str) -> Option<&'a RefOr<Schema>> {
    let (name, rest) = match path.split_once('[') {
        Some((name, rest)) => (name, Some(rest)),
        None => (path, None),
    };
    let RefOr::T(Schema::Object(o)) = schema else {
        return None;
    };
    let field = o.properties.get(name)?;
    match (rest, field) {
        (None, _) => Some(field),
        // One item of a list (the bodies have no deeper nesting).
        (Some(_), RefOr::T(Schema::Array(a))) => match &a.items {
            ArrayItems::RefOrSchema(item) => Some(item),
            ArrayItems::False => None,
        },
        (Some(_), _) => None,
    }
}

/// What a value of this schema looks like, for a person.
fn describe(schema: &RefOr<Schema>) -> Option<String> {
    let RefOr::T(schema) = schema else {
        return None;
    };
    match schema {
        Schema::Array(a) => match &a.items {
            ArrayItems::RefOrSchema(item) => {
                describe(item).map(|i| format!("a list in which each item is {i}"))
            }
            ArrayItems::False => None,
        },
        Schema::Object(o) => {
            let types: Vec<&Type> = match &o.schema_type {
                SchemaType::Type(t) => vec![t],
                SchemaType::Array(ts) => ts.iter().filter(|t| **t != Type::Null).collect(),
                SchemaType::AnyValue => return None,
            };
            let format = match &o.format {
                Some(SchemaFormat::KnownFormat(f)) => Some(f),
                _ => None,
            };
            match (types.as_slice(), format) {
                ([Type::String], Some(KnownFormat::DateTime)) => {
                    Some("an RFC 3339 date-time such as 2027-01-31T00:00:00Z".into())
                }
                ([Type::String], Some(KnownFormat::Date)) => {
                    Some("a date such as 2027-01-31".into())
                }
                ([Type::String], Some(KnownFormat::Uuid)) => {
                    Some("an id (a UUID such as 0b9ee5a4-3e5c-4f4e-9d51-8a3f0c1d2e77)".into())
                }
                ([Type::String], _) => Some("a string".into()),
                ([Type::Integer], _) => Some(match (&o.minimum, &o.maximum) {
                    (Some(min), Some(max)) => {
                        format!("a whole number from {} to {}", number(min), number(max))
                    }
                    (Some(min), None) => format!("a whole number from {}", number(min)),
                    (None, _) if format == Some(&KnownFormat::Int32) => {
                        "a whole number (at most 2147483647)".into()
                    }
                    (None, _) => "a whole number".into(),
                }),
                ([Type::Number], _) => Some("a number".into()),
                ([Type::Boolean], _) => Some("true or false".into()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn number(n: &utoipa::Number) -> String {
    match n {
        utoipa::Number::Int(i) => i.to_string(),
        utoipa::Number::UInt(u) => u.to_string(),
        utoipa::Number::Float(f) => f.to_string(),
    }
}

/// serde's "…, expected one of `a`, `b`" as "one of a, b"; `None` when it says nothing a person
/// would recognise (a Rust type name, a struct).
fn serde_expected(message: &str) -> Option<String> {
    let (_, expected) = message.rsplit_once(", expected ")?;
    let expected = expected.split(" at line ").next()?.trim();
    if expected.starts_with("one of ") {
        return Some(expected.replace('`', ""));
    }
    match expected {
        "a string" | "a boolean" | "a sequence" | "a map" => Some(expected.into()),
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            Some("a whole number".into())
        }
        _ => None,
    }
}

/// A JSON body as serde_json's `Value`, except that an object naming a key twice is refused.
/// serde_json keeps the last of them, while a proxy or a firewall in front of the portal may
/// have judged the request by the first: the two must not read one body two ways.
pub struct StrictJson(pub Value);

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

/// The message a repeated key is refused with (read back by `repeated_key`).
const REPEATED: &str = "repeated key `";

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("{REPEATED}{key}`")));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The refusal of a body that names a key twice (`StrictJson`), if that is what `e` says.
pub fn repeated_key(e: &serde_json::Error) -> Option<AppError> {
    let message = e.to_string();
    let (key, _) = message.strip_prefix(REPEATED)?.split_once('`')?;
    let key: String = key.chars().take(40).collect();
    Some(AppError::BadRequest(format!(
        "\"{}\" is given more than once in the body: give each field once.",
        key.escape_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::serde_expected;

    #[test]
    fn serde_words_become_a_persons() {
        assert_eq!(
            serde_expected("unknown variant `x`, expected one of `org_admin`, `support`")
                .as_deref(),
            Some("one of org_admin, support")
        );
        assert_eq!(
            serde_expected("invalid type: string \"s\", expected u32").as_deref(),
            Some("a whole number")
        );
        assert_eq!(
            serde_expected("invalid length 0, expected struct RenameRequest with 1 element"),
            None
        );
    }
}
