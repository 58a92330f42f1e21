-- Key custody: data keys wrapped by the master key (which is never stored here), users' SSH keys
-- (private halves sealed), volume passphrases (sealed) and pinned instance host keys.

CREATE TABLE data_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX data_keys_purpose ON data_keys(purpose, id);

CREATE TABLE user_ssh_keys (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Public keys replaced by a rotation, to be removed from the user's instances.
CREATE TABLE user_ssh_key_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    retired_at INTEGER NOT NULL
);

CREATE TABLE volume_keys (
    volume_id INTEGER PRIMARY KEY REFERENCES volumes(id) ON DELETE CASCADE,
    sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE host_keys (
    instance_id INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    offered_key TEXT,
    offered_fingerprint TEXT,
    offered_at INTEGER,
    accepted_by TEXT,
    accepted_at INTEGER
);

-- Other sealed secrets (cloud credentials and the like), addressed by owner kind, id and name.
CREATE TABLE secrets (
    owner_kind TEXT NOT NULL,
    owner_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, name)
);
