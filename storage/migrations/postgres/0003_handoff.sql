-- The app handoff: login links generated for apps, and rate-limit counters.
-- Secrets are stored only as SHA-256 hashes. The engine session is created when a link is claimed.

CREATE TABLE handoffs (
    id TEXT COLLATE "C" PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    link_hash BYTEA NOT NULL CHECK (length(link_hash) = 32),
    secret_hash BYTEA NOT NULL CHECK (length(secret_hash) = 32),
    redirect_uri TEXT,
    state TEXT,
    login_hint TEXT,
    ui_locales TEXT,
    lifetime_seconds BIGINT NOT NULL CHECK (lifetime_seconds > 0),
    created_at TIMESTAMPTZ NOT NULL,
    link_expires_at TIMESTAMPTZ NOT NULL,
    claimed_at TIMESTAMPTZ,
    browser_hash BYTEA CHECK (browser_hash IS NULL OR length(browser_hash) = 32),
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
    key TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counters_expires_at ON rate_counters (expires_at);
