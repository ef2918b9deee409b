//! Rules between the fields of a message that the derived schemas cannot state (utoipa's schema
//! model has no `not`, `if`/`then` or `contains`). They are merged into the served JSON, each
//! next to the check in the server that enforces it.

use serde_json::{json, Value};

/// The component of `SetSession`'s request: [`derived`] from `SessionRequestWire`.
pub(super) const SET_SESSION_REQUEST: &str = "SetSessionRequestWire";

/// Components made from others: `(new name, source, properties left out)`.
fn derived() -> [(&'static str, &'static str, &'static [&'static str]); 1] {
    // SetSession reads no user agent (only CreateSession records one), so it constrains none.
    [(SET_SESSION_REQUEST, "SessionRequestWire", &["userAgent"])]
}

/// `(component schema, JSON merged into it)`.
fn rules() -> Vec<(&'static str, Value)> {
    // A property that is present and not null.
    let given = |name: &str| json!({"required": [name], "properties": {name: {"type": "object"}}});
    let text = |name: &str| json!({"required": [name], "properties": {name: {"type": "string"}}});
    let factors =
        |names: &[&str]| json!({"properties": {"allowed_factors": {"contains": {"enum": names}}}});
    vec![
        // wire::to_change: "checks.user: userId or loginName is required".
        (
            "CheckUser",
            json!({"anyOf": [text("userId"), text("loginName"), text("username")]}),
        ),
        // wire::to_list_query: "exactly one query kind is required".
        (
            "SearchQueryWire",
            json!({"oneOf": [
                given("idsQuery"), given("userIdQuery"), given("creationDateQuery"),
                given("creatorQuery"), given("userAgentQuery"), given("expirationDateQuery"),
            ]}),
        ),
        // wire::to_change: "sendCode and returnCode are exclusive".
        (
            "OtpEmailChallengeWire",
            json!({"not": {"allOf": [given("sendCode"), given("returnCode")]}}),
        ),
        // domain::service::session::validate_user_agent: at most 50 headers.
        (
            "UserAgentWire",
            json!({"properties": {"header": {"maxProperties": 50}}}),
        ),
        // handoff::read_fields: unknown fields are ignored if they are text, a number or a
        // boolean (JSON), and a form field name has no control characters or quotes.
        ("GenerateRequest", handoff_extra()),
        ("ValidateRequest", handoff_extra()),
        // admin::users::update_user: a verified flag needs an address to mark, so it cannot come
        // with the request that clears the address (whether the user has one otherwise is known
        // only to the server).
        (
            "UpdateUser",
            json!({"allOf": [cleared_with_flag("email"), cleared_with_flag("phone")]}),
        ),
        // domain::service::admin::validate_policy: a policy somebody can satisfy.
        (
            "Policy",
            json!({"allOf": [
                factors(&["password", "passkey"]),
                {"if": {"required": ["passwordless"], "properties": {"passwordless": {"const": true}}},
                 "then": factors(&["passkey"])},
                {"if": {"required": ["require_second_factor"],
                        "properties": {"require_second_factor": {"const": true}}},
                 "then": factors(&["totp", "otp_sms", "otp_email", "recovery_code",
                                   "security_key", "passkey"])},
            ]}),
        ),
    ]
}

/// `field` set to `null` (cleared) comes without `<field>_verified`.
fn cleared_with_flag(field: &str) -> Value {
    let flag = format!("{field}_verified");
    json!({
        "if": {"required": [field], "properties": {field: {"type": "null"}}},
        "then": {"properties": {flag: {"type": "null"}}},
    })
}

fn handoff_extra() -> Value {
    json!({
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        "propertyNames": {"type": "string", "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f\"\\\\]*$"},
    })
}

/// Merges `from` into `into`: objects key by key, anything else replaced.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

/// An empty JSON body reads as `{}` ([`crate::api::json::ApiJson`]): where `{}` is a valid
/// message (no required field), a body is optional. Connect calls always send one (their content
/// type is required), and the handoff reads its body differently.
fn optional_bodies(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if path.starts_with("/zitadel.") || path.starts_with("/session/") {
            continue;
        }
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            let Some(body) = op.get_mut("requestBody") else {
                continue;
            };
            let target = body
                .pointer("/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(|name| &schemas[name]);
            let empty_is_valid = target.is_some_and(|s| {
                s.get("required")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            });
            if empty_is_valid {
                body["required"] = json!(false);
            }
        }
    }
}

/// Adds the rules to the document's component schemas.
pub(super) fn apply(doc: &mut Value) {
    optional_bodies(doc);
    for (name, source, left_out) in derived() {
        if let Some(mut schema) = doc
            .pointer(&format!("/components/schemas/{source}"))
            .cloned()
        {
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for p in left_out {
                    props.remove(*p);
                }
            }
            if let Some(all) = doc
                .pointer_mut("/components/schemas")
                .and_then(Value::as_object_mut)
            {
                all.insert(name.to_owned(), schema);
            }
        }
    }
    for (name, rule) in rules() {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            merge(schema, rule);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_finds_its_schema() {
        let mut doc = serde_json::to_value(super::super::document()).unwrap();
        apply(&mut doc);
        let set = &doc["components"]["schemas"][SET_SESSION_REQUEST];
        assert!(set["properties"]["checks"].is_object(), "{set}");
        assert!(set["properties"].get("userAgent").is_none(), "{set}");
        for (name, rule) in rules() {
            let schema = &doc["components"]["schemas"][name];
            for key in rule.as_object().unwrap().keys() {
                assert!(schema.get(key).is_some(), "{name} lacks {key}: {schema}");
            }
        }
    }
}
