-- The app handoff: login links generated for apps, and rate-limit counters.
-- Secrets are stored only as SHA-256 hashes. The engine session is created when a link is claimed.

CREATE TABLE handoffs (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    link_hash BLOB NOT NULL CHECK (length(link_hash) = 32),
    secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
    redirect_uri TEXT,
    state TEXT,
    login_hint TEXT,
    ui_locales TEXT,
    lifetime_seconds INTEGER NOT NULL CHECK (lifetime_seconds > 0),
    created_at TEXT NOT NULL,
    link_expires_at TEXT NOT NULL,
    claimed_at TEXT,
    browser_hash BLOB CHECK (browser_hash IS NULL OR length(browser_hash) = 32),
    session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX handoffs_link_hash ON handoffs (link_hash);
CREATE UNIQUE INDEX handoffs_secret_hash ON handoffs (secret_hash);
CREATE INDEX handoffs_app_id ON handoffs (app_id);
CREATE INDEX handoffs_session_id ON handoffs (session_id);
-- The purge looks for unclaimed links by expiry.
CREATE INDEX handoffs_unclaimed ON handoffs (link_expires_at) WHERE claimed_at IS NULL;

-- Fixed-window counters: one row per key and window (window_start in Unix seconds).
CREATE TABLE rate_counters (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counters_expires_at ON rate_counters (expires_at);
