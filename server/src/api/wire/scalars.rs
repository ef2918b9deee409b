//! Scalar wire types: durations, timestamps, 64-bit numbers, bytes and proto enums.

use std::fmt;

use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use domain::store::TimeCompare;
use serde::{de, Deserialize, Deserializer};
use time::{format_description::well_known::Rfc3339, OffsetDateTime, UtcOffset};

/// A `google.protobuf.Duration` in JSON: `"18000s"`, `"1.5s"`, `"-3s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoDuration(pub time::Duration);

impl ProtoDuration {
    /// Parses the protojson form; at most nine fractional digits.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_suffix('s')?;
        let (negative, body) = match body.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, f),
            None => (body, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
            return None;
        }
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) || body.ends_with('.') {
            return None;
        }
        let seconds: i64 = whole.parse().ok()?;
        let nanos: i32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        let d = time::Duration::new(seconds, nanos);
        Some(Self(if negative { -d } else { d }))
    }
}

impl<'de> Deserialize<'de> for ProtoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| de::Error::custom("expected a duration such as \"18000s\" or \"1.5s\""))
    }
}

/// Formats a duration the protojson way (`"18000s"`, `"1.500s"`).
pub fn format_duration(d: time::Duration) -> String {
    let nanos = d.subsec_nanoseconds().unsigned_abs();
    let sign = if d.is_negative() { "-" } else { "" };
    let secs = d.whole_seconds().unsigned_abs();
    if nanos == 0 {
        format!("{sign}{secs}s")
    } else {
        let frac = format!("{nanos:09}");
        format!("{sign}{secs}.{}s", frac.trim_end_matches('0'))
    }
}

/// A `google.protobuf.Timestamp` in JSON (RFC 3339).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub OffsetDateTime);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(Self)
            .map_err(|_| de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

/// RFC 3339 in UTC, as protojson writes timestamps: no fraction, or 3, 6 or 9 digits.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let nanos = t.nanosecond();
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An unsigned 64-bit number sent as a JSON string or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U64(pub u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned integer (number or string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                u64::try_from(v)
                    .map(U64)
                    .map_err(|_| E::custom("must not be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                    Ok(U64(v as u64))
                } else {
                    Err(E::custom("expected an unsigned integer"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                v.trim()
                    .parse()
                    .map(U64)
                    .map_err(|_| E::custom("expected an unsigned integer"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `bytes` in JSON: standard or URL-safe base64, padded or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STD_LENIENT
            .decode(text.as_bytes())
            .or_else(|_| URL_LENIENT.decode(text.as_bytes()))
            .map(Self)
            .map_err(|_| de::Error::custom("expected base64"))
    }
}

/// Declares a proto enum that reads its name or its number; unknown values are refused.
macro_rules! proto_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $num:literal, $text:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("one of ", $($text, " ",)+ "or its number"))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        match v { $($num => Ok($name::$variant),)+ _ => Err(E::custom(concat!("unknown ", stringify!($name), " value"))) }
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        match i64::try_from(v) { Ok(v) => self.visit_i64(v), Err(_) => Err(E::custom("unknown enum value")) }
                    }
                    // protojson reads `1.0` or `1e0` as the number 1; JSON Schema calls it an integer too.
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        if v.fract() == 0.0 && v.abs() < 1e9 {
                            self.visit_i64(v as i64)
                        } else {
                            Err(E::custom("an enum number must be a whole number"))
                        }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        match v { $($text => Ok($name::$variant),)+ _ => Err(E::custom(concat!("unknown ", stringify!($name), " value"))) }
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

proto_enum!(
    /// `TimestampQueryMethod`.
    TimestampQueryMethod {
        Equals = 0, "TIMESTAMP_QUERY_METHOD_EQUALS";
        Greater = 1, "TIMESTAMP_QUERY_METHOD_GREATER";
        GreaterOrEquals = 2, "TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS";
        Less = 3, "TIMESTAMP_QUERY_METHOD_LESS";
        LessOrEquals = 4, "TIMESTAMP_QUERY_METHOD_LESS_OR_EQUALS";
    }
);

proto_enum!(
    /// `SessionFieldName`, the sorting column.
    SessionFieldName {
        Unspecified = 0, "SESSION_FIELD_NAME_UNSPECIFIED";
        CreationDate = 1, "SESSION_FIELD_NAME_CREATION_DATE";
    }
);

proto_enum!(
    /// `UserVerificationRequirement` of a WebAuthn challenge.
    UserVerificationRequirement {
        Unspecified = 0, "USER_VERIFICATION_REQUIREMENT_UNSPECIFIED";
        Required = 1, "USER_VERIFICATION_REQUIREMENT_REQUIRED";
        Preferred = 2, "USER_VERIFICATION_REQUIREMENT_PREFERRED";
        Discouraged = 3, "USER_VERIFICATION_REQUIREMENT_DISCOURAGED";
    }
);

impl From<TimestampQueryMethod> for TimeCompare {
    fn from(m: TimestampQueryMethod) -> Self {
        match m {
            TimestampQueryMethod::Equals => Self::Equals,
            TimestampQueryMethod::Greater => Self::Greater,
            TimestampQueryMethod::GreaterOrEquals => Self::GreaterOrEquals,
            TimestampQueryMethod::Less => Self::Less,
            TimestampQueryMethod::LessOrEquals => Self::LessOrEquals,
        }
    }
}

/// An empty message (`{}`); its fields, if any, are ignored.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s: &str| ProtoDuration::parse(s).map(|d| d.0);
        assert_eq!(d("18000s"), Some(time::Duration::seconds(18000)));
        assert_eq!(d("1.5s"), Some(time::Duration::milliseconds(1500)));
        assert_eq!(d("-1s"), Some(time::Duration::seconds(-1)));
        assert_eq!(d("0.000000001s"), Some(time::Duration::nanoseconds(1)));
        for bad in [
            "",
            "s",
            "1",
            "1.s",
            ".5s",
            "1.0000000001s",
            "abc",
            "1m",
            "99999999999999s",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert_eq!(format_duration(time::Duration::seconds(18000)), "18000s");
        assert_eq!(format_duration(time::Duration::milliseconds(1500)), "1.5s");
        let t = OffsetDateTime::from_unix_timestamp(1_710_498_600).unwrap()
            + time::Duration::milliseconds(500);
        assert_eq!(format_time(t), "2024-03-15T10:30:00.500Z");
        assert_eq!(
            format_time(t + time::Duration::microseconds(1)),
            "2024-03-15T10:30:00.500001Z"
        );
        assert_eq!(
            format_time(t + time::Duration::nanoseconds(1)),
            "2024-03-15T10:30:00.500000001Z"
        );
        assert_eq!(
            format_time(t - time::Duration::milliseconds(500)),
            "2024-03-15T10:30:00Z"
        );
    }

    #[test]
    fn numbers_and_enums() {
        assert_eq!(serde_json::from_str::<U64>("\"12\"").unwrap(), U64(12));
        assert_eq!(serde_json::from_str::<U64>("12").unwrap(), U64(12));
        assert!(serde_json::from_str::<U64>("-1").is_err());
        assert!(serde_json::from_str::<U64>("\"x\"").is_err());
        assert_eq!(
            serde_json::from_str::<TimestampQueryMethod>("\"TIMESTAMP_QUERY_METHOD_LESS\"")
                .unwrap(),
            TimestampQueryMethod::Less
        );
        assert_eq!(
            serde_json::from_str::<TimestampQueryMethod>("2").unwrap(),
            TimestampQueryMethod::GreaterOrEquals
        );
        assert!(serde_json::from_str::<TimestampQueryMethod>("\"NOPE\"").is_err());
        assert!(serde_json::from_str::<TimestampQueryMethod>("9").is_err());
        assert_eq!(
            serde_json::from_str::<TimestampQueryMethod>("1.0").unwrap(),
            TimestampQueryMethod::Greater
        );
        assert!(serde_json::from_str::<TimestampQueryMethod>("1.5").is_err());
        assert!(serde_json::from_str::<TimestampQueryMethod>("9.0").is_err());
        assert_eq!(
            serde_json::from_str::<Bytes>("\"aGk\"").unwrap(),
            Bytes(b"hi".to_vec())
        );
        assert_eq!(
            serde_json::from_str::<Bytes>("\"_-8\"").unwrap().0,
            vec![0xff, 0xef]
        );
    }
}
