//! Timestamps as columns: TIMESTAMPTZ on PostgreSQL, fixed-width RFC 3339 UTC text on SQLite.
//!
//! Both backends keep microseconds, so [`Ts::new`] truncates to whole microseconds in UTC: a value
//! reads back identically on either backend, and SQL comparisons agree with Rust comparisons.

use sqlx::{
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgTypeInfo, PgValueRef},
    sqlite::{SqliteTypeInfo, SqliteValueRef},
    Database, Decode, Encode, Postgres, Sqlite, Type,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime, UtcOffset};

/// A point in time as the database stores it (UTC, microsecond precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(OffsetDateTime);

impl Ts {
    /// Converts to UTC and drops the sub-microsecond part.
    pub(crate) fn new(at: OffsetDateTime) -> Self {
        let utc = at.to_offset(UtcOffset::UTC);
        let micros_only = utc.nanosecond() / 1_000 * 1_000;
        Self(utc.replace_nanosecond(micros_only).unwrap_or(utc))
    }

    pub(crate) fn get(self) -> OffsetDateTime {
        self.0
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: always the same width, so text order is time order.
    fn to_text(self) -> Result<String, BoxDynError> {
        let t = self.0;
        if !(0..=9999).contains(&t.year()) {
            return Err(format!("timestamp out of the storable range: {t}").into());
        }
        Ok(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        ))
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <str as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.to_text()?, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Self::new(OffsetDateTime::parse(text, &Rfc3339)?))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Postgres> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::new(<OffsetDateTime as Decode<'r, Postgres>>::decode(
            value,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn text_form_is_fixed_width_utc_with_microseconds() {
        let t = Ts::new(datetime!(2024-05-01 14:00:00.123456789 +02:00));
        assert_eq!(t.to_text().unwrap(), "2024-05-01T12:00:00.123456Z");
        let early = Ts::new(datetime!(0999-01-02 03:04:05 UTC));
        assert_eq!(early.to_text().unwrap(), "0999-01-02T03:04:05.000000Z");
        assert!(early.to_text().unwrap() < t.to_text().unwrap());
    }

    #[test]
    fn truncates_below_microseconds() {
        let t = Ts::new(datetime!(2024-05-01 12:00:00.000000999 UTC));
        assert_eq!(t.get(), datetime!(2024-05-01 12:00:00 UTC));
    }
}
