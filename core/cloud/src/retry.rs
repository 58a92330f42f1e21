//! Timeouts and retries for cloud calls.
//!
//! Every call through a [`crate::CloudProvider`] runs under a [`CallPolicy`]: it has a deadline,
//! and it is repeated after a transient failure ([`CloudError::is_retryable`]) **only when
//! repeating it is safe**, which [`Operation::kind`] says for each operation:
//!
//! | kind                     | operations                                                    |
//! |--------------------------|---------------------------------------------------------------|
//! | [`CallKind::Read`]       | check_credentials, regions, instance_types, find_images, security_groups, describe_instances, instances_by_tag, describe_volumes, volumes_by_tag |
//! | [`CallKind::Idempotent`] | import_key_pair (same name and key is fine), delete_key_pair (a missing pair is fine), ensure_security_group (converges), start/stop/terminate_instances (a repeat finds the state reached), delete_volume (a repeat after a lost answer reports the volume as not found, which callers treat as deleted) |
//! | [`CallKind::Mutating`]   | run_instances, create_volume (a repeat would make a second set), attach_volume, detach_volume (a repeat fails on the state the first one left), reboot_instances (a repeat reboots again) |
//!
//! A provider whose client library retries by itself (the AWS SDK does) must follow the same
//! table, see the AWS provider's notes.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::CloudError;

/// Whether a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// Reads nothing but state: always safe to repeat.
    Read,
    /// Changes state, but repeating it leaves the same end state.
    Idempotent,
    /// Repeating it could do the thing twice, or fail because the first try worked: never
    /// repeated by [`CallPolicy::run`].
    Mutating,
}

impl CallKind {
    /// Whether a transient failure of such a call may be retried.
    pub fn may_retry(self) -> bool {
        !matches!(self, Self::Mutating)
    }
}

/// Every operation of [`crate::CloudProvider`], for timeouts, retries and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Operation {
    CheckCredentials,
    Regions,
    InstanceTypes,
    FindImages,
    ImportKeyPair,
    DeleteKeyPair,
    EnsureSecurityGroup,
    SecurityGroups,
    RunInstances,
    DescribeInstances,
    InstancesByTag,
    StartInstances,
    StopInstances,
    RebootInstances,
    TerminateInstances,
    CreateVolume,
    AttachVolume,
    DetachVolume,
    DeleteVolume,
    DescribeVolumes,
    VolumesByTag,
    AllocateAddress,
    AssociateAddress,
    DisassociateAddress,
    ReleaseAddress,
    AddressesByTag,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 26] = [
        Self::CheckCredentials,
        Self::Regions,
        Self::InstanceTypes,
        Self::FindImages,
        Self::ImportKeyPair,
        Self::DeleteKeyPair,
        Self::EnsureSecurityGroup,
        Self::SecurityGroups,
        Self::RunInstances,
        Self::DescribeInstances,
        Self::InstancesByTag,
        Self::StartInstances,
        Self::StopInstances,
        Self::RebootInstances,
        Self::TerminateInstances,
        Self::CreateVolume,
        Self::AttachVolume,
        Self::DetachVolume,
        Self::DeleteVolume,
        Self::DescribeVolumes,
        Self::VolumesByTag,
        Self::AllocateAddress,
        Self::AssociateAddress,
        Self::DisassociateAddress,
        Self::ReleaseAddress,
        Self::AddressesByTag,
    ];

    /// The trait method's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CheckCredentials => "check_credentials",
            Self::Regions => "regions",
            Self::InstanceTypes => "instance_types",
            Self::FindImages => "find_images",
            Self::ImportKeyPair => "import_key_pair",
            Self::DeleteKeyPair => "delete_key_pair",
            Self::EnsureSecurityGroup => "ensure_security_group",
            Self::SecurityGroups => "security_groups",
            Self::RunInstances => "run_instances",
            Self::DescribeInstances => "describe_instances",
            Self::InstancesByTag => "instances_by_tag",
            Self::StartInstances => "start_instances",
            Self::StopInstances => "stop_instances",
            Self::RebootInstances => "reboot_instances",
            Self::TerminateInstances => "terminate_instances",
            Self::CreateVolume => "create_volume",
            Self::AttachVolume => "attach_volume",
            Self::DetachVolume => "detach_volume",
            Self::DeleteVolume => "delete_volume",
            Self::DescribeVolumes => "describe_volumes",
            Self::VolumesByTag => "volumes_by_tag",
            Self::AllocateAddress => "allocate_address",
            Self::AssociateAddress => "associate_address",
            Self::DisassociateAddress => "disassociate_address",
            Self::ReleaseAddress => "release_address",
            Self::AddressesByTag => "addresses_by_tag",
        }
    }

    /// Whether the operation may be repeated (the table in the [module docs](self)).
    pub fn kind(self) -> CallKind {
        match self {
            Self::CheckCredentials
            | Self::Regions
            | Self::InstanceTypes
            | Self::FindImages
            | Self::SecurityGroups
            | Self::DescribeInstances
            | Self::InstancesByTag
            | Self::DescribeVolumes
            | Self::VolumesByTag
            | Self::AddressesByTag => CallKind::Read,
            Self::ImportKeyPair
            | Self::DeleteKeyPair
            | Self::EnsureSecurityGroup
            | Self::StartInstances
            | Self::StopInstances
            | Self::TerminateInstances
            | Self::DeleteVolume
            | Self::AssociateAddress
            | Self::DisassociateAddress
            | Self::ReleaseAddress => CallKind::Idempotent,
            Self::RunInstances
            | Self::CreateVolume
            | Self::AttachVolume
            | Self::DetachVolume
            | Self::RebootInstances
            | Self::AllocateAddress => CallKind::Mutating,
        }
    }
}

/// How long a call may take and how often it is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPolicy {
    /// Deadline for the whole call, every attempt and pause included.
    pub timeout: Duration,
    /// Deadline for one attempt (capped by what is left of `timeout`).
    pub attempt_timeout: Duration,
    /// Attempts in all, for calls that may be retried (at least 1).
    pub max_attempts: u32,
    /// Pause before the first retry; it doubles for each further one, with random jitter.
    pub initial_backoff: Duration,
    /// Longest pause between attempts.
    pub max_backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(30),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl CallPolicy {
    /// A policy that never retries, with one deadline: for providers whose client retries by
    /// itself.
    pub fn deadline_only(timeout: Duration) -> Self {
        Self { timeout, attempt_timeout: timeout, max_attempts: 1, ..Self::default() }
    }

    /// Runs `attempt` under this policy: each attempt within `attempt_timeout`, the whole within
    /// `timeout`, repeated after a retryable error only if `operation` may be repeated.
    pub async fn run<T, F, Fut>(&self, operation: Operation, mut attempt: F) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CloudError>>,
    {
        let timed_out = |after| CloudError::Timeout { operation: operation.name().to_string(), after };
        let started = tokio::time::Instant::now();
        let deadline = started + self.timeout;
        let attempts = if operation.kind().may_retry() { self.max_attempts.max(1) } else { 1 };
        let mut n = 0;
        loop {
            n += 1;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let limit = self.attempt_timeout.min(left);
            let result = match tokio::time::timeout(limit, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(timed_out(if limit == left { self.timeout } else { limit })),
            };
            match result {
                Err(e) if e.is_retryable() && n < attempts => {
                    let pause = self.backoff(n);
                    if tokio::time::Instant::now() + pause >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    /// The pause after attempt `n` (1-based): exponential, with "equal jitter" (half fixed,
    /// half random) so that clients that failed together do not retry together.
    fn backoff(&self, n: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
        let full = exp.min(self.max_backoff);
        let half = full / 2;
        half + half.mul_f64(rand::thread_rng().gen::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn fast() -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(1),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        }
    }

    async fn failing(policy: &CallPolicy, op: Operation, error: CloudError) -> (Result<(), CloudError>, u32) {
        let calls = AtomicU32::new(0);
        let result = policy
            .run(op, || {
                calls.fetch_add(1, Ordering::SeqCst);
                let error = error.clone();
                async move { Err::<(), _>(error) }
            })
            .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[test]
    fn every_operation_has_a_kind_and_a_unique_name() {
        let mut names: Vec<_> = Operation::ALL.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Operation::ALL.len());
        assert_eq!(Operation::RunInstances.kind(), CallKind::Mutating);
        assert_eq!(Operation::AttachVolume.kind(), CallKind::Mutating);
        assert_eq!(Operation::TerminateInstances.kind(), CallKind::Idempotent);
        assert_eq!(Operation::DescribeVolumes.kind(), CallKind::Read);
    }

    #[tokio::test]
    async fn reads_are_retried_on_transient_errors() {
        let (r, calls) = failing(&fast(), Operation::DescribeInstances, CloudError::Throttled("x".into())).await;
        assert!(matches!(r, Err(CloudError::Throttled(_))));
        assert_eq!(calls, 3);
        let (_, calls) = failing(&fast(), Operation::StopInstances, CloudError::Unavailable("x".into())).await;
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn mutating_calls_and_permanent_errors_are_not_retried() {
        let (_, calls) = failing(&fast(), Operation::RunInstances, CloudError::Throttled("x".into())).await;
        assert_eq!(calls, 1);
        let (_, calls) = failing(&fast(), Operation::Regions, CloudError::Auth("x".into())).await;
        assert_eq!(calls, 1);
        let (_, calls) = failing(
            &CallPolicy::deadline_only(Duration::from_secs(1)),
            Operation::Regions,
            CloudError::Throttled("x".into()),
        )
        .await;
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_retry_can_succeed() {
        let calls = AtomicU32::new(0);
        let r = fast()
            .run(Operation::Regions, || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(CloudError::Unavailable("blip".into()))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(1));
    }

    #[tokio::test]
    async fn hanging_calls_time_out() {
        let ms = Duration::from_millis;
        let policy = CallPolicy { attempt_timeout: ms(200), timeout: ms(500), ..fast() };
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let r: Result<(), _> = policy
            .run(Operation::FindImages, || {
                calls.fetch_add(1, Ordering::SeqCst);
                std::future::pending()
            })
            .await;
        // 200 ms + 200 ms + the 100 ms left of the 500 ms deadline.
        let took = started.elapsed();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(took >= ms(500) && took < ms(1500), "took {took:?}");
        match r {
            Err(CloudError::Timeout { operation, after }) => {
                assert_eq!(operation, "find_images");
                assert_eq!(after, ms(500));
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // A mutating call gets one attempt.
        let r: Result<(), _> = policy.run(Operation::RunInstances, std::future::pending).await;
        assert!(matches!(r, Err(CloudError::Timeout { after, .. }) if after == ms(200)), "{r:?}");
    }
}
