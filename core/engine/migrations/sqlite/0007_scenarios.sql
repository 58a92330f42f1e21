-- Scenarios (manual 6.6): user defined scripts, run on instances at the end of their set-up; and
-- cloud templates (7.3.3-7.3.5): a whole create-instance request saved under a name. Both are
-- objects with "Edit security" rights.

CREATE TABLE scripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    script_type TEXT NOT NULL,
    platform TEXT NOT NULL,
    stage TEXT NOT NULL,
    access TEXT NOT NULL,
    parameters TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX scripts_owner ON scripts(owner_id);

CREATE TABLE launch_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    provider_id INTEGER NOT NULL REFERENCES providers(id),
    request TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);
