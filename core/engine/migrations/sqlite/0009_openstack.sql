-- OpenStack providers (manual 6.3.2): the project and domain their Keystone v3 credentials are
-- scoped to, and which server address the core uses (`floating` or `fixed`). The auth URL is
-- `endpoint_url`, the user name `access_key_id`, the password a sealed secret.
ALTER TABLE providers ADD COLUMN project TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN domain TEXT NOT NULL DEFAULT '';
ALTER TABLE providers ADD COLUMN address_mode TEXT NOT NULL DEFAULT '';
