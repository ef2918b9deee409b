//! Rules between the fields of a message that the derived schemas cannot state (utoipa's schema
//! model has no `not`, `if`/`then` or `contains`). They are merged into the served JSON, each
//! next to the check in the server that enforces it.

use serde_json::{json, Value};

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

/// Adds the rules to the document's component schemas.
pub(super) fn apply(doc: &mut Value) {
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
        for (name, rule) in rules() {
            let schema = &doc["components"]["schemas"][name];
            for key in rule.as_object().unwrap().keys() {
                assert!(schema.get(key).is_some(), "{name} lacks {key}: {schema}");
            }
        }
    }
}
