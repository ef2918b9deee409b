-- The one instance this server runs; its id is the resource owner of everything it holds.
CREATE TABLE IF NOT EXISTS instance (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
