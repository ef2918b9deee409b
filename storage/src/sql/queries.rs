// The statements behind every `Store` method, shared by both backends.
//
// This file is included into `sql::sqlite` and `sql::postgres`, which define `Db`, `FOR_UPDATE`,
// `begin_write` and `begin_read` first. Lock order, everywhere: the session row, then user rows,
// then recovery codes, so that PostgreSQL transactions never wait on each other in a cycle.

use domain::{
    model::{
        ApiKey, App, Event, Instance, NewEvent, RecoveryCode, Session, User, WebAuthnCredential,
    },
    store::{
        AttemptReservation, CodeChannel, EventFilter, FailureWrite, Reserved, SessionFilter,
        SessionPage, SessionQuery, SessionWrite, StoreError, TimeCompare, UserEffect,
    },
};
use sqlx::QueryBuilder;

use crate::{
    rows::{
        backend, counter_columns, fold_case, is_unique_violation, scopes_json, to_i64, write_error,
        ApiKeyRow, AppJson, AppRow, EventRow, InstanceRow, RecoveryCodeRow, SessionBody,
        SessionRow, UserRow, WebAuthnCredentialRow, API_KEY_COLUMNS, APP_COLUMNS, EVENT_COLUMNS,
        SESSION_COLUMNS, USER_COLUMNS, WEBAUTHN_COLUMNS,
    },
    ts::Ts,
};

type Pool = sqlx::Pool<Db>;
type Tx = sqlx::Transaction<'static, Db>;
type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

include!("queries/users.rs");
include!("queries/lockout.rs");
include!("queries/apps.rs");
include!("queries/sessions.rs");
include!("queries/handoff.rs");
include!("queries/webauthn.rs");
include!("queries/retention.rs");
