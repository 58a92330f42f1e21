-- Console sessions (manual 7.3.6 "SSH Console"): who opened a terminal on which instance, when,
-- for how long, how many bytes went each way, how it ended, and the asciicast recording file
-- (relative to the data directory) when recording was on.

CREATE TABLE console_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL,
    instance_name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    user_login TEXT NOT NULL,
    command TEXT,
    term TEXT NOT NULL,
    cols INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    bytes_in INTEGER NOT NULL DEFAULT 0,
    bytes_out INTEGER NOT NULL DEFAULT 0,
    exit_status INTEGER,
    end_reason TEXT,
    recording_path TEXT,
    recording_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX console_sessions_instance ON console_sessions(instance_id, id);
CREATE INDEX console_sessions_user ON console_sessions(user_id, id);
