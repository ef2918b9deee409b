-- Retention: old events may be deleted, but only those older than the horizon the purge sets in
-- the same transaction; updates and any other delete stay refused.
CREATE TABLE event_purge (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    purge_before TEXT NOT NULL
);

DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN OLD.at >= COALESCE((SELECT purge_before FROM event_purge WHERE singleton = 1), '')
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- The purge looks for old events, ended sessions and used codes by time.
CREATE INDEX events_at ON events (at);
CREATE INDEX sessions_changed_at ON sessions (changed_at) WHERE terminated;
CREATE INDEX recovery_codes_used_at ON recovery_codes (used_at) WHERE used_at IS NOT NULL;
CREATE INDEX handoffs_created_at ON handoffs (created_at);
