//! Client calls for providers, images, instances, volumes, security groups and usage limits.

use reqwest::Method;
use serde::Serialize;

use super::{Client, ClientError};
use crate::instances::{
    ActionRequest, AllowedSecurityGroups, AttachVolume, BatchActionRequest, Instance, InstanceAction, InstancePatch,
    Launch, LaunchRequest, Limits, LimitsView, NewVolume, SecurityGroup, Volume, VolumePatch,
};
use crate::providers::{Image, ImageCandidate, ImagePatch, ImportImage, NewProvider, Provider, ProviderPatch};
use crate::scenarios::{NewScript, NewTemplate, Script, ScriptPatch, Template, TemplateLaunch};
use crate::tasks::Task;

#[derive(Serialize)]
struct All {
    all: bool,
}

impl Client {
    // --- providers and images ---

    pub async fn providers(&self) -> Result<Vec<Provider>, ClientError> {
        self.get("providers").await
    }

    pub async fn provider(&self, id: i64) -> Result<Provider, ClientError> {
        self.get(&format!("providers/{id}")).await
    }

    pub async fn create_provider(&self, p: &NewProvider) -> Result<Provider, ClientError> {
        self.send(Method::POST, "providers", p).await
    }

    pub async fn update_provider(&self, id: i64, p: &ProviderPatch) -> Result<Provider, ClientError> {
        self.send(Method::PATCH, &format!("providers/{id}"), p).await
    }

    pub async fn delete_provider(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("providers/{id}")).await
    }

    pub async fn sync_provider(&self, id: i64) -> Result<Task, ClientError> {
        self.post_empty(&format!("providers/{id}/sync")).await
    }

    pub async fn reconcile_provider(&self, id: i64) -> Result<Task, ClientError> {
        self.post_empty(&format!("providers/{id}/reconcile")).await
    }

    pub async fn search_images(
        &self,
        provider: i64,
        region: &str,
        q: &str,
    ) -> Result<Vec<ImageCandidate>, ClientError> {
        #[derive(Serialize)]
        struct Q<'a> {
            region: &'a str,
            q: &'a str,
        }
        self.get_q(&format!("providers/{provider}/images"), &Q { region, q }).await
    }

    pub async fn images(&self) -> Result<Vec<Image>, ClientError> {
        self.get("images").await
    }

    pub async fn import_image(&self, req: &ImportImage) -> Result<Image, ClientError> {
        self.send(Method::POST, "images", req).await
    }

    pub async fn update_image(&self, id: i64, p: &ImagePatch) -> Result<Image, ClientError> {
        self.send(Method::PATCH, &format!("images/{id}"), p).await
    }

    /// Removes an image from the core's list; it stays at the provider.
    pub async fn delete_image(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("images/{id}")).await
    }

    pub async fn security_groups(&self, provider: i64, region: &str) -> Result<Vec<SecurityGroup>, ClientError> {
        #[derive(Serialize)]
        struct Q<'a> {
            region: &'a str,
        }
        self.get_q(&format!("providers/{provider}/security-groups"), &Q { region }).await
    }

    pub async fn allow_security_groups(
        &self,
        provider: i64,
        req: &AllowedSecurityGroups,
    ) -> Result<Vec<SecurityGroup>, ClientError> {
        self.send(Method::PUT, &format!("providers/{provider}/security-groups"), req).await
    }

    // --- instances ---

    pub async fn instances(&self, all: bool) -> Result<Vec<Instance>, ClientError> {
        self.get_q("instances", &All { all }).await
    }

    pub async fn instance(&self, id: i64) -> Result<Instance, ClientError> {
        self.get(&format!("instances/{id}")).await
    }

    pub async fn launch(&self, req: &LaunchRequest) -> Result<Launch, ClientError> {
        self.send(Method::POST, "instances", req).await
    }

    pub async fn update_instance(&self, id: i64, p: &InstancePatch) -> Result<Instance, ClientError> {
        self.send(Method::PATCH, &format!("instances/{id}"), p).await
    }

    pub async fn instance_action(&self, id: i64, action: InstanceAction) -> Result<Task, ClientError> {
        self.send(Method::POST, &format!("instances/{id}/actions"), &ActionRequest { action }).await
    }

    pub async fn batch_action(&self, ids: &[i64], action: InstanceAction) -> Result<Task, ClientError> {
        self.send(Method::POST, "instances/batch", &BatchActionRequest { action, instance_ids: ids.to_vec() }).await
    }

    // --- volumes ---

    pub async fn volumes(&self, all: bool) -> Result<Vec<Volume>, ClientError> {
        self.get_q("volumes", &All { all }).await
    }

    pub async fn volume(&self, id: i64) -> Result<Volume, ClientError> {
        self.get(&format!("volumes/{id}")).await
    }

    pub async fn create_volume(&self, req: &NewVolume) -> Result<Volume, ClientError> {
        self.send(Method::POST, "volumes", req).await
    }

    pub async fn update_volume(&self, id: i64, p: &VolumePatch) -> Result<Volume, ClientError> {
        self.send(Method::PATCH, &format!("volumes/{id}"), p).await
    }

    pub async fn delete_volume(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("volumes/{id}")).await
    }

    pub async fn attach_volume(&self, id: i64, req: &AttachVolume) -> Result<Volume, ClientError> {
        self.send(Method::POST, &format!("volumes/{id}/attach"), req).await
    }

    pub async fn detach_volume(&self, id: i64) -> Result<Volume, ClientError> {
        self.post_empty(&format!("volumes/{id}/detach")).await
    }

    // --- usage limits ---

    pub async fn user_limits(&self, user: i64) -> Result<LimitsView, ClientError> {
        self.get(&format!("users/{user}/limits")).await
    }

    pub async fn set_user_limits(&self, user: i64, l: &Limits) -> Result<LimitsView, ClientError> {
        self.send(Method::PUT, &format!("users/{user}/limits"), l).await
    }

    pub async fn group_limits(&self, group: i64) -> Result<LimitsView, ClientError> {
        self.get(&format!("groups/{group}/limits")).await
    }

    pub async fn set_group_limits(&self, group: i64, l: &Limits) -> Result<LimitsView, ClientError> {
        self.send(Method::PUT, &format!("groups/{group}/limits"), l).await
    }

    // --- scenarios (user defined scripts) and templates ---

    pub async fn scripts(&self) -> Result<Vec<Script>, ClientError> {
        self.get("scenarios").await
    }

    pub async fn script(&self, id: i64) -> Result<Script, ClientError> {
        self.get(&format!("scenarios/{id}")).await
    }

    pub async fn create_script(&self, s: &NewScript) -> Result<Script, ClientError> {
        self.send(Method::POST, "scenarios", s).await
    }

    pub async fn update_script(&self, id: i64, p: &ScriptPatch) -> Result<Script, ClientError> {
        self.send(Method::PATCH, &format!("scenarios/{id}"), p).await
    }

    pub async fn delete_script(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("scenarios/{id}")).await
    }

    pub async fn templates(&self) -> Result<Vec<Template>, ClientError> {
        self.get("templates").await
    }

    pub async fn template(&self, id: i64) -> Result<Template, ClientError> {
        self.get(&format!("templates/{id}")).await
    }

    pub async fn create_template(&self, t: &NewTemplate) -> Result<Template, ClientError> {
        self.send(Method::POST, "templates", t).await
    }

    pub async fn replace_template(&self, id: i64, t: &NewTemplate) -> Result<Template, ClientError> {
        self.send(Method::PUT, &format!("templates/{id}"), t).await
    }

    pub async fn delete_template(&self, id: i64) -> Result<(), ClientError> {
        self.empty(Method::DELETE, &format!("templates/{id}")).await
    }

    pub async fn launch_template(&self, id: i64, l: &TemplateLaunch) -> Result<Launch, ClientError> {
        self.send(Method::POST, &format!("templates/{id}/launch"), l).await
    }
}
