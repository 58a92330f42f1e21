-- Cloud providers (manual 6.3) with the regions and instance types an administrator allows, and
-- the images imported from them (6.4). Secret credentials are sealed in `secrets`.

CREATE TABLE providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    access_key_id TEXT NOT NULL DEFAULT '',
    endpoint_url TEXT,
    default_region TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    synced_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE provider_regions (
    provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    allowed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider_id, name)
);

CREATE TABLE provider_instance_types (
    provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    vcpus INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    allowed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider_id, name)
);

CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id INTEGER NOT NULL REFERENCES providers(id),
    region TEXT NOT NULL,
    cloud_id TEXT NOT NULL,
    name TEXT NOT NULL,
    os_type TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    login_user TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (provider_id, region, cloud_id)
);
