-- Core foundation: users, permissions, user_groups, object rights, sessions, tasks, audit, settings,
-- and the instance/volume records the dashboard counts. Times are Unix milliseconds (UTC).

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    is_admin INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE user_permissions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE user_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

-- Every object that carries group rights is registered here with its owner.
CREATE TABLE objects (
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX objects_owner ON objects(owner_id);

CREATE TABLE object_rights (
    object_kind TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    right_name TEXT NOT NULL,
    PRIMARY KEY (object_kind, object_id, group_id, right_name),
    FOREIGN KEY (object_kind, object_id) REFERENCES objects(kind, id) ON DELETE CASCADE
);
CREATE INDEX object_rights_group ON object_rights(group_id);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    address TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL,
    address TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_login ON login_failures(login, at);
CREATE INDEX login_failures_address ON login_failures(address, at);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_kind TEXT,
    target_id INTEGER,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    checkpoint TEXT,
    resumable INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    log_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_state ON tasks(state, id);
CREATE INDEX tasks_owner ON tasks(owner_id, id);

CREATE TABLE task_logs (
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    level TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
CREATE INDEX task_logs_at ON task_logs(at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    actor_login TEXT,
    address TEXT,
    action TEXT NOT NULL,
    target_kind TEXT,
    target_id INTEGER,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_action ON audit_log(action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT
);

CREATE TABLE instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    provider_id INTEGER,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    terminated_at INTEGER
);
CREATE INDEX instances_owner ON instances(owner_id);

CREATE TABLE volumes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    instance_id INTEGER REFERENCES instances(id),
    size_gb INTEGER NOT NULL,
    encrypted INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX volumes_owner ON volumes(owner_id);
