-- Instances and volumes the core launches (manual 7.3, 7.4), the security groups administrators let
-- users add, per-user and per-group usage limits, and the core's own identity (its id tags every
-- cloud object it creates, so a reconcile can find them again).

CREATE TABLE core_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

ALTER TABLE instances ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN region TEXT;
ALTER TABLE instances ADD COLUMN cloud_id TEXT;
ALTER TABLE instances ADD COLUMN image_id BIGINT;
ALTER TABLE instances ADD COLUMN instance_type TEXT;
ALTER TABLE instances ADD COLUMN os_type TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE instances ADD COLUMN launch_index BIGINT NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN launch_count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN launch_task_id BIGINT;
ALTER TABLE instances ADD COLUMN swarm TEXT;
ALTER TABLE instances ADD COLUMN security_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE instances ADD COLUMN public_ip TEXT;
ALTER TABLE instances ADD COLUMN private_ip TEXT;
ALTER TABLE instances ADD COLUMN availability_zone TEXT;
ALTER TABLE instances ADD COLUMN cloud_state TEXT;
ALTER TABLE instances ADD COLUMN status_message TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN expires_at BIGINT;
ALTER TABLE instances ADD COLUMN key_name TEXT;
CREATE INDEX instances_cloud ON instances(provider_id, cloud_id);

ALTER TABLE volumes ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE volumes ADD COLUMN provider_id BIGINT;
ALTER TABLE volumes ADD COLUMN region TEXT;
ALTER TABLE volumes ADD COLUMN availability_zone TEXT;
ALTER TABLE volumes ADD COLUMN cloud_id TEXT;
ALTER TABLE volumes ADD COLUMN volume_type TEXT NOT NULL DEFAULT 'general_purpose';
ALTER TABLE volumes ADD COLUMN iops BIGINT;
ALTER TABLE volumes ADD COLUMN device TEXT;
ALTER TABLE volumes ADD COLUMN mount_point TEXT;
ALTER TABLE volumes ADD COLUMN status TEXT NOT NULL DEFAULT 'creating';
ALTER TABLE volumes ADD COLUMN status_message TEXT NOT NULL DEFAULT '';
CREATE INDEX volumes_instance ON volumes(instance_id);

CREATE TABLE provider_security_groups (
    provider_id BIGINT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    region TEXT NOT NULL,
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (provider_id, region, group_id)
);

CREATE TABLE usage_limits (
    subject_kind TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    max_running_instances BIGINT,
    max_volume_gb BIGINT,
    max_lifetime_hours BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id)
);
