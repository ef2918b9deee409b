//! The Session API's part of the document. Its five RPCs are described once, in [`RPCS`], and
//! the path items of every REST prefix ([`REST_PREFIXES`]) and Connect package ([`SERVICES`])
//! the routers serve are generated from that table, so no prefix or package has a copy of its
//! own to drift.

use serde_json::{json, Value};
use utoipa::{
    openapi::{
        path::{HttpMethod, Operation},
        Paths,
    },
    ToSchema,
};

use crate::api::{connect::SERVICES, session::REST_PREFIXES, wire};

pub(super) const TAG_REST: &str = "sessions (REST)";
pub(super) const TAG_CONNECT: &str = "sessions (Connect)";

/// A reference to a component schema.
fn schema_ref<T: ToSchema>() -> Value {
    json!({"$ref": format!("#/components/schemas/{}", T::name())})
}

/// A record id as the server reads it: 1–200 characters, no control characters.
pub(super) fn id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_CONTROL})
}

/// No control characters (Unicode category Cc), which every text field of the API refuses.
pub(super) const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// `SetSession`'s request: the create request's fields without `userAgent`, which only
/// `CreateSession` reads (see [`super::refine`]).
fn set_request() -> Value {
    json!({"$ref": format!("#/components/schemas/{}", super::refine::SET_SESSION_REQUEST)})
}

/// A request message whose `sessionId` must be given in the body (Connect has no path).
fn with_session_id(message: Value) -> Value {
    json!({"allOf": [
        message,
        {"type": "object", "required": ["sessionId"], "properties": {"sessionId": id_schema()}},
    ]})
}

fn connect_session_ref() -> Value {
    with_session_id(schema_ref::<wire::SessionRefWire>())
}

fn connect_set_request() -> Value {
    with_session_id(set_request())
}

/// How the REST routes serve an RPC.
struct Rest {
    method: HttpMethod,
    /// After the version prefix.
    path: &'static str,
    /// The answer when it worked.
    status: &'static str,
    /// `sessionToken` may come in the query.
    token_in_query: bool,
    /// The body's schema; `None`: no body. A body is never required: an empty one reads as
    /// `{}`, as with grpc-gateway.
    body: Option<fn() -> Value>,
}

/// One RPC of `zitadel.session.v2.SessionService`.
struct Rpc {
    name: &'static str,
    description: &'static str,
    /// The JSON body over Connect (always sent: Connect needs its content type).
    connect_request: fn() -> Value,
    response: fn() -> Value,
    rest: Rest,
    /// The session's own token authorizes the call without an API key.
    token_alone: bool,
    /// The request runs checks and challenges, which can be ones this server does not serve.
    runs_checks: bool,
}

const RPCS: [Rpc; 5] = [
    Rpc {
        name: "CreateSession",
        description: "Creates a session, running the checks and challenges of the request.",
        connect_request: schema_ref::<wire::SessionRequestWire>,
        response: schema_ref::<wire::CreateSessionResponse>,
        rest: Rest {
            method: HttpMethod::Post,
            path: "/sessions",
            status: "201",
            token_in_query: false,
            body: Some(schema_ref::<wire::SessionRequestWire>),
        },
        token_alone: false,
        runs_checks: true,
    },
    Rpc {
        name: "GetSession",
        description: "Reads a session. An API key with the `session` scope (sessions it created) \
            or `session_all`, or the session's own token alone. A terminated session, or one \
            the key does not reach, answers 404 like an unknown id.",
        connect_request: connect_session_ref,
        response: schema_ref::<wire::GetSessionResponse>,
        rest: Rest {
            method: HttpMethod::Get,
            path: "/sessions/{session_id}",
            status: "200",
            token_in_query: true,
            body: None,
        },
        token_alone: true,
        runs_checks: false,
    },
    Rpc {
        name: "ListSessions",
        description: "Lists the live sessions matching every query that the key reaches (its \
            own with `session`, all with `session_all`), with offset, limit and order.",
        connect_request: schema_ref::<wire::ListSessionsWire>,
        response: schema_ref::<wire::ListSessionsResponse>,
        rest: Rest {
            method: HttpMethod::Post,
            path: "/sessions/search",
            status: "200",
            token_in_query: false,
            body: Some(schema_ref::<wire::ListSessionsWire>),
        },
        token_alone: false,
        runs_checks: false,
    },
    Rpc {
        name: "SetSession",
        description: "Runs further checks and challenges, changes metadata or the lifetime; \
            rotates the token.",
        connect_request: connect_set_request,
        response: schema_ref::<wire::SetSessionResponse>,
        rest: Rest {
            method: HttpMethod::Patch,
            path: "/sessions/{session_id}",
            status: "200",
            token_in_query: false,
            body: Some(set_request),
        },
        token_alone: false,
        runs_checks: true,
    },
    Rpc {
        name: "DeleteSession",
        description: "Terminates a session. An API key with the `session` scope (sessions it \
            created) or `session_all`, or the session's own token (in the body or the \
            `sessionToken` query parameter) alone. Ending an ended, unknown or unreachable \
            session succeeds and changes nothing; handoff sessions are ended only by their \
            app's hosted page.",
        connect_request: connect_session_ref,
        response: schema_ref::<wire::DeleteSessionResponse>,
        rest: Rest {
            method: HttpMethod::Delete,
            path: "/sessions/{session_id}",
            status: "200",
            token_in_query: true,
            // The token may come in the body or the query.
            body: Some(schema_ref::<wire::SessionRefWire>),
        },
        token_alone: true,
        runs_checks: false,
    },
];

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn ok_response(status: &str, schema: Value) -> Value {
    let description = if status == "201" { "Created" } else { "OK" };
    json!({status: {"description": description, "content": json_content(schema)}})
}

/// The errors of an RPC that the common table does not add (see `add_common_errors`).
fn rpc_errors(rpc: &Rpc, schema: &str, connect: bool) -> Value {
    let error = |description: &str| {
        json!({"description": description,
               "content": json_content(json!({"$ref": format!("#/components/schemas/{schema}")}))})
    };
    let mut out = serde_json::Map::new();
    let mut causes = Vec::new();
    if rpc.runs_checks {
        causes.push(
            "identity provider intents (`SESSION-Idp00`), WebAuthn without a relying party \
             (`SESSION-Wan00`)",
        );
    }
    if connect {
        causes.push("compressed requests (`API-Codec1`)");
    }
    if !causes.is_empty() {
        let text = format!("Not served by this server: {}", causes.join("; "));
        out.insert("501".into(), error(&text));
    }
    Value::Object(out)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn rest_operation(rpc: &Rpc, prefix: &str) -> Value {
    let version = prefix.trim_start_matches('/');
    let operation_id = if version == "v2" {
        rpc.name.to_owned()
    } else {
        format!("{}.{version}", rpc.name)
    };
    let mut parameters = Vec::new();
    if rpc.rest.path.contains("{session_id}") {
        parameters.push(json!({"name": "session_id", "in": "path", "required": true,
                               "schema": id_schema()}));
    }
    if rpc.rest.token_in_query {
        parameters.push(
            json!({"name": "sessionToken", "in": "query", "required": false,
            "description": "The session's current token",
            "schema": {"type": "string", "maxLength": 200}}),
        );
    }
    let mut responses = ok_response(rpc.rest.status, (rpc.response)());
    merge(&mut responses, rpc_errors(rpc, "ErrorBody", false));
    let mut op = json!({
        "tags": [TAG_REST],
        "description": rpc.description,
        "operationId": operation_id,
        "responses": responses,
    });
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    if let Some(body) = rpc.rest.body {
        op["requestBody"] = json!({"content": json_content(body()), "required": false});
    }
    op
}

fn connect_operation(rpc: &Rpc, service: &str) -> Value {
    let package = service.split('.').nth(2).unwrap_or(service);
    let operation_id = if package == "v2" {
        format!("connect.{}", rpc.name)
    } else {
        format!("connect.{}.{package}", rpc.name)
    };
    let mut responses = ok_response("200", (rpc.response)());
    merge(&mut responses, rpc_errors(rpc, "ConnectError", true));
    json!({
        "tags": [TAG_CONNECT],
        "description": format!("Connect unary call (JSON codec) of `{}`. {}", rpc.name, rpc.description),
        "operationId": operation_id,
        "requestBody": {
            "content": json_content((rpc.connect_request)()),
            "required": true,
        },
        "parameters": [{
            "name": "Connect-Protocol-Version", "in": "header", "required": false,
            "description": "Connect protocol version; `1` when sent",
            "schema": {"type": "string", "enum": ["1"]},
        }],
        "responses": responses,
    })
}

/// Whether the session's token alone (no API key) may call the operation at this path.
pub(super) fn token_alone(path: &str, method: &str) -> bool {
    RPCS.iter().filter(|r| r.token_alone).any(|r| {
        let connect = path.starts_with("/zitadel.") && path.ends_with(&format!("/{}", r.name));
        let rest = method.eq_ignore_ascii_case(http_method_name(&r.rest.method))
            && REST_PREFIXES
                .iter()
                .any(|p| path == format!("{p}{}", r.rest.path));
        connect || rest
    })
}

fn http_method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Delete => "delete",
        HttpMethod::Patch => "patch",
        HttpMethod::Head => "head",
        HttpMethod::Options => "options",
        HttpMethod::Trace => "trace",
    }
}

fn operation(value: Value) -> Result<Operation, serde_json::Error> {
    serde_json::from_value(value)
}

/// The Session API's path items for every prefix and package.
pub(super) fn paths() -> Result<Paths, serde_json::Error> {
    let mut paths = Paths::new();
    for rpc in &RPCS {
        for prefix in REST_PREFIXES {
            paths.add_path_operation(
                format!("{prefix}{}", rpc.rest.path),
                vec![rpc.rest.method.clone()],
                operation(rest_operation(rpc, prefix))?,
            );
        }
        for service in SERVICES {
            paths.add_path_operation(
                format!("/{service}/{}", rpc.name),
                vec![HttpMethod::Post],
                operation(connect_operation(rpc, service))?,
            );
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_and_every_prefix_and_package_is_generated() {
        let paths = paths().unwrap();
        let n = paths
            .paths
            .values()
            .map(|item| {
                [&item.get, &item.post, &item.patch, &item.delete, &item.put]
                    .iter()
                    .filter(|o| o.is_some())
                    .count()
            })
            .sum::<usize>();
        assert_eq!(n, RPCS.len() * (REST_PREFIXES.len() + SERVICES.len()));
        // The table names exactly the methods the Connect router serves.
        let mut names: Vec<_> = RPCS.iter().map(|r| r.name).collect();
        let mut served = crate::api::connect::METHODS.to_vec();
        names.sort_unstable();
        served.sort_unstable();
        assert_eq!(names, served);
        assert!(token_alone("/v2beta/sessions/{session_id}", "get"));
        assert!(token_alone(
            "/zitadel.session.v2.SessionService/DeleteSession",
            "post"
        ));
        assert!(!token_alone("/v2/sessions/{session_id}", "patch"));
        assert!(!token_alone(
            "/zitadel.session.v2.SessionService/SetSession",
            "post"
        ));
    }
}
