-- Users, recovery codes, apps, API keys, sessions and the event log.
-- Timestamps are fixed-width RFC 3339 UTC text with microseconds ("2024-05-01T12:00:00.000000Z"),
-- so that text comparison and ordering are time comparison and ordering.
-- Case-insensitive keys (login name, email) are lowercased by the application into *_key columns,
-- so both backends fold case the same way (Unicode-aware), independent of collations.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    login_name TEXT NOT NULL,
    login_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    email_key TEXT,
    email_verified BOOLEAN NOT NULL,
    phone TEXT,
    phone_verified BOOLEAN NOT NULL,
    preferred_language TEXT,
    state TEXT NOT NULL CHECK (state IN ('active', 'inactive')),
    password_hash TEXT,
    totp_secret BLOB,
    totp_confirmed BOOLEAN NOT NULL,
    totp_last_used_step INTEGER,
    otp_email_enabled BOOLEAN NOT NULL,
    otp_sms_enabled BOOLEAN NOT NULL,
    password_failures INTEGER NOT NULL CHECK (password_failures >= 0),
    code_failures INTEGER NOT NULL CHECK (code_failures >= 0),
    locked_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_login_key ON users (login_key);
CREATE INDEX users_email_key ON users (email_key);

CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    app_key TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    policy TEXT NOT NULL,
    branding TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX apps_app_key ON apps (app_key);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    key_hash BLOB NOT NULL CHECK (length(key_hash) = 32),
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash);

-- A session's searchable fields are columns; the rest (factors, metadata, user agent, challenges,
-- lifetime) is one JSON document in `body`.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    creator TEXT NOT NULL,
    fingerprint_id TEXT,
    app_id TEXT REFERENCES apps (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    expires_at TEXT,
    terminated BOOLEAN NOT NULL
);
CREATE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_creator ON sessions (creator);
CREATE INDEX sessions_fingerprint_id ON sessions (fingerprint_id);
CREATE INDEX sessions_app_id ON sessions (app_id);
CREATE INDEX sessions_created_at ON sessions (created_at, id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The append-only log. AUTOINCREMENT: a position is never reused, even after the newest row is gone.
-- No foreign keys: the log outlives what it talks about.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    session_id TEXT,
    user_id TEXT,
    app_id TEXT,
    client_ip TEXT,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    error_id TEXT
);
CREATE INDEX events_session_id ON events (session_id, id);
CREATE INDEX events_user_id ON events (user_id, id);

-- SECURITY: the audit log cannot be rewritten through the application's connection.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
