//! Security groups (manual 6.1.1, 7.3.2): the core keeps its own SSH group per region; an
//! administrator makes some of the cloud's other groups available, and users may add those to
//! their instances.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{AllowedSecurityGroups, SecurityGroup};
use wintermute_api::rights::{ObjectKind, ObjectRight};

use super::launch::ssh_group_name;
use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::providers::cloud_error;

impl Engine {
    /// `(group id, name)` of the groups users may add in a region.
    pub(crate) async fn allowed_security_groups(
        &self,
        provider_id: i64,
        region: &str,
    ) -> CoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT group_id, name FROM provider_security_groups WHERE provider_id = $1 AND region = $2 ORDER BY name",
        )
        .bind(provider_id)
        .bind(region)
        .fetch_all(self.store().pool())
        .await?)
    }

    async fn require_usable_region(&self, provider_id: i64, region: &str) -> CoreResult<()> {
        let p = self.load_provider(provider_id).await?;
        if !p.regions.iter().any(|r| r.name == region && r.allowed) {
            return Err(CoreError::forbidden(format!("region {region:?} is not allowed at provider {:?}", p.name)));
        }
        Ok(())
    }

    /// The security groups of a region. Administrators see every group of the cloud with the
    /// `allowed` flag; users (with "view" on the provider) see the groups they may add.
    pub async fn security_groups_list(
        &self,
        caller: &Caller,
        provider_id: i64,
        region: &str,
    ) -> CoreResult<Vec<SecurityGroup>> {
        self.require_right(caller, ObjectKind::Provider, provider_id, ObjectRight::View).await?;
        self.require_usable_region(provider_id, region).await?;
        let allowed = self.allowed_security_groups(provider_id, region).await?;
        if !caller.is_admin {
            return Ok(allowed
                .into_iter()
                .map(|(group_id, name)| SecurityGroup {
                    region: region.to_owned(),
                    group_id,
                    name,
                    description: String::new(),
                    allowed: true,
                    managed: false,
                })
                .collect());
        }
        let core = ssh_group_name(&self.core_id().await?);
        let groups = self.cloud(provider_id).await?.security_groups(region).await.map_err(cloud_error)?;
        Ok(groups
            .into_iter()
            .map(|g| SecurityGroup {
                region: region.to_owned(),
                allowed: allowed.iter().any(|(id, _)| id == &g.id),
                managed: g.name == core,
                group_id: g.id,
                name: g.name,
                description: g.description.unwrap_or_default(),
            })
            .collect())
    }

    /// Sets the groups users may add in a region (administrators); each must exist in the cloud.
    pub async fn security_groups_allow(
        &self,
        caller: &Caller,
        provider_id: i64,
        req: &AllowedSecurityGroups,
    ) -> CoreResult<Vec<SecurityGroup>> {
        if !caller.is_admin {
            return Err(CoreError::forbidden("only administrators choose the security groups users may add"));
        }
        self.require_usable_region(provider_id, &req.region).await?;
        let core = ssh_group_name(&self.core_id().await?);
        let groups = self.cloud(provider_id).await?.security_groups(&req.region).await.map_err(cloud_error)?;
        let mut chosen = Vec::new();
        for id in &req.group_ids {
            let g = groups.iter().find(|g| &g.id == id).ok_or_else(|| {
                CoreError::invalid("group_ids", format!("there is no security group {id:?} in {}", req.region))
            })?;
            if g.name == core {
                return Err(CoreError::invalid(
                    "group_ids",
                    "the core's own SSH group is always added; it is not chosen",
                ));
            }
            chosen.push((g.id.clone(), g.name.clone()));
        }
        let mut tx = self.store().write_tx().await?;
        sqlx::query("DELETE FROM provider_security_groups WHERE provider_id = $1 AND region = $2")
            .bind(provider_id)
            .bind(&req.region)
            .execute(&mut *tx.tx)
            .await?;
        for (id, name) in &chosen {
            sqlx::query(
                "INSERT INTO provider_security_groups (provider_id, region, group_id, name) VALUES ($1, $2, $3, $4)",
            )
            .bind(provider_id)
            .bind(&req.region)
            .bind(id)
            .bind(name)
            .execute(&mut *tx.tx)
            .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("provider.security_groups", AuditOutcome::Success)
                .target("provider", provider_id)
                .details(json!({"region": req.region, "group_ids": req.group_ids})),
        )
        .await?;
        tx.commit().await?;
        self.security_groups_list(caller, provider_id, &req.region).await
    }
}
