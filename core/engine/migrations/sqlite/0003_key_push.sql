-- Where the core reaches an instance over SSH, and the hand-over of a rotated user key: the old
-- private key is kept (sealed) until the new public key is on every running instance of the user.

ALTER TABLE instances ADD COLUMN ssh_host TEXT;
ALTER TABLE instances ADD COLUMN ssh_port INTEGER;
ALTER TABLE instances ADD COLUMN login_user TEXT;

ALTER TABLE user_ssh_keys ADD COLUMN previous_public_key TEXT;
ALTER TABLE user_ssh_keys ADD COLUMN previous_private_sealed TEXT;

CREATE TABLE ssh_key_pushes (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    new_fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, instance_id)
);
