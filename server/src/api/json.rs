//! Request extractors whose every rejection is an [`ApiError`] (400 in the contract's shape),
//! never a framework's plain-text answer or a 500.

use axum::{
    body::Body,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::error::{ids, ApiError};

/// Largest request body the API reads (1 MiB, the contract's bound for WebAuthn assertions).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body. An empty body reads as `{}` (grpc-gateway treats it as an empty
/// message), so `DELETE` without a body works; unknown fields are ignored, like protojson's
/// `DiscardUnknown`.
#[derive(Debug, Clone, Default)]
pub struct ApiJson<T>(pub T);

/// Whether a `Content-Type` value names JSON (`application/json`, `...+json`, with parameters).
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the body up to [`MAX_BODY_BYTES`]; 400 `API-Json02` beyond it.
pub async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

fn too_large() -> ApiError {
    ApiError::invalid_argument(
        ids::BODY_TOO_LARGE,
        format!("The request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Parses JSON into `T`, naming the field that failed (`checks.user.userId: invalid type ...`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // Every request message is a JSON object. serde would also read a struct from an array
    // (its fields by position), which protojson never accepts.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid_argument(
            ids::MALFORMED_BODY,
            "invalid request body: a JSON object is expected",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, (String, serde_json::Error)> =
        serde_path_to_error::deserialize(strict::Strict(&mut de)).map_err(|err| {
            let path = err.path().to_string();
            (path, err.into_inner())
        });
    let parsed = parsed.and_then(|v| de.end().map(|()| v).map_err(|e| (String::new(), e)));
    parsed.map_err(|(path, inner)| {
        // serde_json's message may quote a fragment of the input; keep it short.
        let mut reason = inner.to_string();
        if reason.len() > 300 {
            let cut = (0..=300)
                .rev()
                .find(|i| reason.is_char_boundary(*i))
                .unwrap_or(0);
            reason.truncate(cut);
        }
        let message = if path.is_empty() || path == "." {
            format!("invalid request body: {reason}")
        } else {
            format!("invalid request body at {path}: {reason}")
        };
        ApiError::invalid_argument(ids::MALFORMED_BODY, message)
    })
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if let Some(len) = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > MAX_BODY_BYTES as u64 {
                return Err(too_large());
            }
        }
        let bytes = read_body(body).await?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !is_json_content_type(content_type) {
                return Err(ApiError::invalid_argument(
                    ids::CONTENT_TYPE,
                    "Content-Type must be application/json",
                ));
            }
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Middleware for API routes: reads the whole body (up to [`MAX_BODY_BYTES`]) before any
/// extractor runs. An answer given before the body was read (401 from the key check, say) would
/// otherwise make the server close the connection, and clients that reuse keep-alive
/// connections (Node's agent) then fail their next request with EPIPE.
pub async fn buffer_body(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let declared_too_large = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES as u64);
    let bytes = if declared_too_large {
        drain(body).await;
        Err(too_large())
    } else {
        read_or_drain(body).await
    };
    match bytes {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(err) => {
            let protocol = super::error::Protocol::of(parts.uri.path(), &parts.headers);
            err.into_response_for(protocol, &parts.headers)
        }
    }
}

/// Reads the body up to [`MAX_BODY_BYTES`]. A body that grows past the limit without having
/// declared its length (chunked HTTP/1.1, HTTP/2 without `content-length`) is refused with
/// `API-Json02` and the rest of it drained, like one that declared too much. A body that fails
/// to arrive (the client went away mid-body) is refused the same way, never answered with 500.
async fn read_or_drain(body: Body) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::invalid_argument(
                ids::MALFORMED_BODY,
                "The request body could not be read",
            ));
        };
        if let Some(data) = frame.data_ref() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                drain(body).await;
                return Err(too_large());
            }
            buf.extend_from_slice(data);
        }
    }
    Ok(buf.freeze())
}

/// Reads and drops a refused body (up to [`DRAIN_LIMIT`] bytes, a frame at a time, never keeping
/// it), so that a client still writing it receives the 400 instead of a broken pipe. Larger
/// bodies are cut off by closing the connection.
async fn drain(body: Body) {
    use http_body_util::BodyExt;
    const DRAIN_LIMIT: usize = 8 * MAX_BODY_BYTES;
    let mut body = body;
    let mut seen = 0usize;
    while seen <= DRAIN_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// Query-string parameters; a parameter that does not parse is a 400 in the contract's shape.
#[derive(Debug, Clone, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid_argument(ids::BAD_PARAMETER, e.body_text()))
    }
}

/// Path parameters; a parameter that does not parse is a 400 in the contract's shape.
#[derive(Debug, Clone, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::invalid_argument(ids::BAD_PARAMETER, e.body_text()))
    }
}

/// Reading messages only from JSON objects. serde's derived structs also take a JSON array
/// (the fields by position), which no protojson or admin client sends and the document does not
/// allow; [`strict::Strict`] wraps a deserializer so that every struct, at any depth, is read as
/// a map. Everything else passes through unchanged.
mod strict {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    pub struct Strict<D>(pub D);

    struct Wrap<V>(V);

    struct Seed<S>(S);

    struct Map<A>(A);

    struct Seq<A>(A);

    macro_rules! forward_deserialize {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(Wrap(visitor))
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
        type Error = D::Error;

        forward_deserialize!(
            deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
            deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
            deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
            deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
            deserialize_option deserialize_unit deserialize_seq deserialize_map
            deserialize_identifier deserialize_ignored_any
        );

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_unit_struct(name, Wrap(visitor))
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_newtype_struct(name, Wrap(visitor))
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_tuple(len, Wrap(visitor))
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
        }

        // The point of the wrapper: a struct comes from a map, never from a sequence.
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_map(Wrap(visitor))
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_enum(name, variants, Wrap(visitor))
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! forward_visit {
        ($($method:ident: $ty:ty)*) => {$(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.0.$method(v)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            self.0.expecting(f)
        }

        forward_visit!(
            visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
            visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
            visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char visit_str: &str
            visit_borrowed_str: &'de str visit_string: String visit_bytes: &[u8]
            visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
        );

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.0.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.0.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.0.visit_some(Strict(d))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.0.visit_newtype_struct(Strict(d))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            self.0.visit_seq(Seq(seq))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            self.0.visit_map(Map(map))
        }

        fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            // Only unit variants (proto and admin enums) are read from requests.
            self.0.visit_enum(data)
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            self.0.deserialize(Strict(d))
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            self.0.next_key_seed(seed)
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, A::Error> {
            self.0.next_value_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
        type Error = A::Error;

        fn next_element_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<Option<S::Value>, A::Error> {
            self.0.next_element_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Msg {
        a: u32,
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Msg>(br#"{"a": "x"}"#).unwrap_err();
        assert_eq!(err.id, ids::MALFORMED_BODY);
        assert!(err.message.contains("at a"), "{}", err.message);
        assert!(parse_json::<Msg>(b"{").is_err());
        assert!(parse_json::<Msg>(br#"{"a":1} x"#).is_err());
        assert!(parse_json::<Msg>(br#"{"a":1}"#).is_ok());
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        inner: Option<Msg>,
        list: Option<Vec<Msg>>,
    }

    #[test]
    fn nested_messages_are_objects_too() {
        assert!(parse_json::<Outer>(br#"{"inner": {"a": 1}, "list": [{"a": 2}]}"#).is_ok());
        for body in [&br#"{"inner": [1]}"#[..], br#"{"list": [[2]]}"#] {
            let err = parse_json::<Outer>(body).unwrap_err();
            assert_eq!(err.id, ids::MALFORMED_BODY);
            assert!(err.message.contains("sequence"), "{}", err.message);
        }
        // Unchanged: the path of the field in errors.
        let err = parse_json::<Outer>(br#"{"list": [{"a": "x"}]}"#).unwrap_err();
        assert!(err.message.contains("list[0].a"), "{}", err.message);
    }

    #[test]
    fn only_objects_are_messages() {
        // serde alone would read `Msg { a: 1 }` from `[1]`.
        for body in [&b"[1]"[..], b" [1]", b"1", b"null", b"\"a\""] {
            let err = parse_json::<Msg>(body).unwrap_err();
            assert_eq!(err.id, ids::MALFORMED_BODY, "{body:?}");
            assert!(err.message.contains("JSON object"), "{}", err.message);
        }
        assert!(parse_json::<Msg>(b" \n{\"a\":1}").is_ok());
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/proto"));
        assert!(!is_json_content_type(""));
    }
}
