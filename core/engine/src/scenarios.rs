//! Scenarios (manual 6.6): user defined scripts kept by the core, and cloud templates (7.3.3–7.3.5).
//!
//! Scripts: creating one needs the "create UDS" permission (and so does sharing one with every
//! user). Their owner and administrators hold every right; a shared script may be viewed and used
//! in a launch by everybody; groups get "view UDS" (use) and "change UDS" (edit) through "Edit
//! security". A launch copies the scripts it runs into its task, so later edits or deletions do
//! not change a launch under way.
//!
//! Templates: a create-instance request saved under a name (passwords never). Saving one needs
//! "create instance template" on the image's provider; launching one needs "create instances" or
//! "create instance from template" there, and every other check of a launch.

use serde_json::json;
use wintermute_api::audit::AuditOutcome;
use wintermute_api::instances::{Launch, LaunchRequest};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::scenarios::{
    NewScript, NewTemplate, Script, ScriptAccess, ScriptPatch, ScriptPlatform, ScriptStage, Template, TemplateLaunch,
};
use wintermute_api::setup::parse_parameters;
use wintermute_api::users::{Permission, UserRef};

use crate::audit::AuditRecord;
use crate::caller::Caller;
use crate::engine::Engine;
use crate::error::{CoreError, CoreResult};
use crate::store::RowExt;
use crate::time::{now_ms, to_dt};
use crate::validate;

/// Largest script content.
const MAX_CONTENT: usize = 256 * 1024;

/// The example every fresh core has (owned by the first administrator, shared).
pub(crate) const EXAMPLE_NAME: &str = "generic.sh";
pub(crate) const EXAMPLE_DESCRIPTION: &str = "Example: prints what the WMAIC library tells about the instance";
pub(crate) const EXAMPLE_CONTENT: &str = r#"#!/bin/bash
# An example user defined script. The core runs it as root at the end of the set-up, with the
# parameters given in the launch ("-m text" prints a message).

if [ -f /etc/profile.d/wmaic.sh ]; then
    source /etc/profile.d/wmaic.sh
else
    echo "WMAIC shell library not found, aborting!" 1>&2
    exit 1
fi

message=""
while getopts "m:" opt; do
    case $opt in
        m) message=$OPTARG ;;
        *) echo "usage: $0 [-m message]" 1>&2; exit 2 ;;
    esac
done

echo "instance ${WMAIC_INSTANCE_NAME} (${WMAIC_INSTANCE_ID}), type ${WMAIC_INSTANCE_TYPE}"
echo "${WMAIC_PROCESSOR_COUNT} processors, stage ${WMAIC_STAGE}"
[ -n "$message" ] && echo "message: $message"
exit 0
"#;

/// A script as a launch runs it (copied into the launch task).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ScriptToRun {
    pub sequence: u32,
    pub script_id: i64,
    pub name: String,
    pub script_type: String,
    pub content: String,
    pub args: Vec<String>,
}

/// A script's file name on the instance: what a careful shell user would name a script.
fn check_script_name(name: &str) -> CoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "name",
            "a script name is a file name of 1 to 128 letters, digits and . _ + - (not starting with . or -), e.g. myTestScript.sh",
        ))
    }
}

fn check_script_type(t: &str) -> CoreResult<()> {
    if !t.is_empty() && t.len() <= 32 && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        Ok(())
    } else {
        Err(CoreError::invalid("script_type", "the type is a short lower-case word such as bash"))
    }
}

fn check_content(c: &str) -> CoreResult<()> {
    if c.len() > MAX_CONTENT {
        return Err(CoreError::invalid("content", format!("a script is at most {} KiB", MAX_CONTENT / 1024)));
    }
    if c.contains('\0') {
        return Err(CoreError::invalid("content", "a script cannot contain NUL characters"));
    }
    if !c.starts_with("#!") {
        return Err(CoreError::invalid("content", "the first line must be a #! line, such as #!/bin/bash"));
    }
    Ok(())
}

fn check_parameters(field: &str, p: &str) -> CoreResult<Vec<String>> {
    parse_parameters(p).map_err(|e| CoreError::invalid(field, e.reason))
}

struct ScriptRow {
    script: Script,
}

impl Engine {
    async fn load_script_row(&self, id: i64) -> CoreResult<ScriptRow> {
        let r = sqlx::query(
            "SELECT s.id, s.name, s.description, s.script_type, s.platform, s.stage, s.access, s.parameters, s.content, \
             s.owner_id, u.login, s.created_at, s.updated_at FROM scripts s JOIN users u ON u.id = s.owner_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no script {id}")))?;
        let bad = |what: &str| CoreError::Internal(format!("script {id} has an unknown {what}"));
        Ok(ScriptRow {
            script: Script {
                id,
                name: r.text("name")?,
                description: r.text("description")?,
                script_type: r.text("script_type")?,
                platform: ScriptPlatform::parse(&r.text("platform")?).ok_or_else(|| bad("platform"))?,
                stage: ScriptStage::parse(&r.text("stage")?).ok_or_else(|| bad("stage"))?,
                access: ScriptAccess::parse(&r.text("access")?).ok_or_else(|| bad("access"))?,
                parameters: r.text("parameters")?,
                content: r.text("content")?,
                owner: UserRef { id: r.int("owner_id")?, login: r.text("login")? },
                my_rights: Vec::new(),
                created_at: to_dt(r.int("created_at")?),
                updated_at: to_dt(r.int("updated_at")?),
            },
        })
    }

    /// The caller's rights on a script: a shared script is viewable by everybody.
    async fn script_rights(&self, caller: &Caller, s: &Script) -> CoreResult<Vec<ObjectRight>> {
        let mut rights = self.rights_of(caller, ObjectKind::Uds, s.id).await?;
        if s.access == ScriptAccess::Shared {
            rights.insert(ObjectRight::View);
        }
        Ok(rights.into_iter().collect())
    }

    /// The script, if the caller holds `right` on it; one they may not view is "not found".
    async fn script_with(&self, caller: &Caller, id: i64, right: ObjectRight) -> CoreResult<Script> {
        let mut s = self.load_script_row(id).await?.script;
        s.my_rights = self.script_rights(caller, &s).await?;
        if s.my_rights.contains(&right) {
            Ok(s)
        } else if s.my_rights.is_empty() {
            Err(CoreError::forbidden(format!("you have no rights on script {id}")))
        } else {
            Err(CoreError::forbidden(format!("you lack the {right} right on script {:?}", s.name)))
        }
    }

    /// Scripts the caller may use or edit.
    pub async fn scripts_list(&self, caller: &Caller) -> CoreResult<Vec<Script>> {
        let rows = sqlx::query("SELECT id FROM scripts ORDER BY name, id").fetch_all(self.store().pool()).await?;
        let mut out = Vec::new();
        for r in rows {
            let mut s = self.load_script_row(r.int("id")?).await?.script;
            s.my_rights = self.script_rights(caller, &s).await?;
            if !s.my_rights.is_empty() {
                out.push(s);
            }
        }
        Ok(out)
    }

    pub async fn scripts_get(&self, caller: &Caller, id: i64) -> CoreResult<Script> {
        self.script_with(caller, id, ObjectRight::View).await
    }

    /// Creates a script ("create UDS").
    pub async fn scripts_create(&self, caller: &Caller, req: &NewScript) -> CoreResult<Script> {
        if !caller.has(Permission::CreateUds) {
            return Err(CoreError::forbidden("creating scripts needs the \"create UDS\" permission"));
        }
        check_script_name(&req.name)?;
        validate::text("description", &req.description, 500, true)?;
        check_script_type(&req.script_type)?;
        check_parameters("parameters", &req.parameters)?;
        check_content(&req.content)?;
        let now = now_ms();
        let mut tx = self.store().write_tx().await?;
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO scripts (name, description, script_type, platform, stage, access, parameters, content, owner_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(&req.name)
        .bind(&req.description)
        .bind(&req.script_type)
        .bind(req.platform.as_str())
        .bind(req.stage.as_str())
        .bind(req.access.as_str())
        .bind(&req.parameters)
        .bind(&req.content)
        .bind(caller.user_id)
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        Engine::register_object(&mut *tx.tx, ObjectKind::Uds, id.0, caller.user_id, &req.name).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("script.create", AuditOutcome::Success)
                .target("uds", id.0)
                .details(json!({"name": req.name, "access": req.access.as_str(), "platform": req.platform.as_str()})),
        )
        .await?;
        tx.commit().await?;
        self.scripts_get(caller, id.0).await
    }

    /// Edits a script ("change UDS"). Sharing it with everybody needs "create UDS".
    pub async fn scripts_update(&self, caller: &Caller, id: i64, p: &ScriptPatch) -> CoreResult<Script> {
        let before = self.script_with(caller, id, ObjectRight::Change).await?;
        if let Some(n) = &p.name {
            check_script_name(n)?;
        }
        if let Some(d) = &p.description {
            validate::text("description", d, 500, true)?;
        }
        if let Some(t) = &p.script_type {
            check_script_type(t)?;
        }
        if let Some(params) = &p.parameters {
            check_parameters("parameters", params)?;
        }
        if let Some(c) = &p.content {
            check_content(c)?;
        }
        if p.access == Some(ScriptAccess::Shared)
            && before.access != ScriptAccess::Shared
            && !caller.has(Permission::CreateUds)
        {
            return Err(CoreError::forbidden("sharing a script with every user needs the \"create UDS\" permission"));
        }
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "UPDATE scripts SET name = COALESCE($1, name), description = COALESCE($2, description), \
             script_type = COALESCE($3, script_type), platform = COALESCE($4, platform), stage = COALESCE($5, stage), \
             access = COALESCE($6, access), parameters = COALESCE($7, parameters), content = COALESCE($8, content), \
             updated_at = $9 WHERE id = $10",
        )
        .bind(p.name.clone())
        .bind(p.description.clone())
        .bind(p.script_type.clone())
        .bind(p.platform.map(|x| x.as_str()))
        .bind(p.stage.map(|x| x.as_str()))
        .bind(p.access.map(|x| x.as_str()))
        .bind(p.parameters.clone())
        .bind(p.content.clone())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if let Some(n) = &p.name {
            sqlx::query("UPDATE objects SET name = $1 WHERE kind = 'uds' AND id = $2")
                .bind(n)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("script.update", AuditOutcome::Success).target("uds", id).details(json!({
                "name": p.name, "access": p.access.map(|a| a.as_str()), "content_changed": p.content.is_some(),
            })),
        )
        .await?;
        tx.commit().await?;
        self.scripts_get(caller, id).await
    }

    /// Deletes a script ("change UDS"). Launches under way keep their copy.
    pub async fn scripts_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        let s = self.script_with(caller, id, ObjectRight::Change).await?;
        let mut tx = self.store().write_tx().await?;
        Engine::unregister_object(&mut *tx.tx, ObjectKind::Uds, id).await?;
        sqlx::query("DELETE FROM scripts WHERE id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("script.delete", AuditOutcome::Success).target("uds", id).details(json!({"name": s.name})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The scripts of a launch request, checked (the caller may use each, it fits the image's
    /// OS type, its parameters parse) and copied, in sequence order.
    pub(crate) async fn scripts_for_launch(
        &self,
        caller: &Caller,
        runs: &[wintermute_api::setup::ScriptRun],
        os_type: &str,
    ) -> CoreResult<Vec<ScriptToRun>> {
        if runs.len() > 50 {
            return Err(CoreError::invalid("setup.scripts", "a launch runs at most 50 scripts"));
        }
        let mut out = Vec::with_capacity(runs.len());
        for (i, run) in runs.iter().enumerate() {
            let field = format!("setup.scripts[{i}]");
            let s = match self.script_with(caller, run.script_id, ObjectRight::View).await {
                Err(CoreError::NotFound(m)) => return Err(CoreError::invalid(field, m)),
                Err(CoreError::Forbidden(m)) => return Err(CoreError::forbidden(format!("{field}: {m}"))),
                r => r?,
            };
            if !s.platform.fits(os_type) {
                return Err(CoreError::invalid(
                    field,
                    format!("script {:?} is for {}, and the image is {os_type}", s.name, s.platform.as_str()),
                ));
            }
            let params = run.parameters.clone().unwrap_or_else(|| s.parameters.clone());
            let args = check_parameters(&format!("{field}.parameters"), &params)?;
            out.push(ScriptToRun {
                sequence: run.sequence,
                script_id: s.id,
                name: s.name,
                script_type: s.script_type,
                content: s.content,
                args,
            });
        }
        out.sort_by_key(|s| s.sequence);
        Ok(out)
    }

    // ----- templates -----

    async fn load_template(&self, id: i64) -> CoreResult<Template> {
        let r = sqlx::query(
            "SELECT t.id, t.name, t.provider_id, t.request, t.owner_id, u.login, t.created_at, t.updated_at \
             FROM launch_templates t JOIN users u ON u.id = t.owner_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(self.store().pool())
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no template {id}")))?;
        let request: LaunchRequest = serde_json::from_str(&r.text("request")?)
            .map_err(|e| CoreError::Internal(format!("template {id} is unreadable: {e}")))?;
        Ok(Template {
            id,
            name: r.text("name")?,
            provider_id: r.int("provider_id")?,
            request,
            owner: UserRef { id: r.int("owner_id")?, login: r.text("login")? },
            my_rights: Vec::new(),
            created_at: to_dt(r.int("created_at")?),
            updated_at: to_dt(r.int("updated_at")?),
        })
    }

    async fn template_with(&self, caller: &Caller, id: i64, right: ObjectRight) -> CoreResult<Template> {
        let mut t = self.load_template(id).await?;
        t.my_rights = self.rights_of(caller, ObjectKind::Template, id).await?.into_iter().collect();
        if t.my_rights.contains(&right) {
            Ok(t)
        } else if t.my_rights.is_empty() {
            Err(CoreError::forbidden(format!("you have no rights on template {id}")))
        } else {
            Err(CoreError::forbidden(format!("you lack the {right} right on template {:?}", t.name)))
        }
    }

    /// Checks a request for a template: what a launch checks without the database, the image
    /// (viewable) and "create instance template" on its provider. Returns the provider and the
    /// request without its password.
    async fn check_template(&self, caller: &Caller, t: &NewTemplate) -> CoreResult<(i64, LaunchRequest)> {
        validate::text("name", &t.name, 128, false)?;
        let mut req = t.request.clone();
        if let Some(u) = req.setup.user.as_mut() {
            // Checked like a launch's, then forgotten: templates never keep passwords.
            if u.password.is_empty() {
                u.password = "x".into();
            }
        }
        Self::check_launch_request(&req)?;
        let image = self.load_image(req.image_id).await.map_err(|e| match e {
            CoreError::NotFound(m) => CoreError::invalid("request.image_id", m),
            e => e,
        })?;
        self.require_right(caller, ObjectKind::Image, image.id, ObjectRight::View).await?;
        self.require_right(caller, ObjectKind::Provider, image.provider_id, ObjectRight::CreateInstanceTemplate)
            .await?;
        if let Some(os) = image.os_type {
            self.scripts_for_launch(caller, &req.setup.scripts, os.as_str()).await?;
        }
        if let Some(u) = req.setup.user.as_mut() {
            u.password.clear();
        }
        Ok((image.provider_id, req))
    }

    /// Saves a create-instance request under a name.
    pub async fn templates_create(&self, caller: &Caller, t: &NewTemplate) -> CoreResult<Template> {
        let (provider_id, req) = self.check_template(caller, t).await?;
        self.refuse_duplicate_template(caller.user_id, &t.name, None).await?;
        let now = now_ms();
        let body = serde_json::to_string(&req).map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut tx = self.store().write_tx().await?;
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO launch_templates (name, provider_id, request, owner_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(&t.name)
        .bind(provider_id)
        .bind(&body)
        .bind(caller.user_id)
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        Engine::register_object(&mut *tx.tx, ObjectKind::Template, id.0, caller.user_id, &t.name).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("template.create", AuditOutcome::Success)
                .target("template", id.0)
                .details(json!({"name": t.name, "provider_id": provider_id})),
        )
        .await?;
        tx.commit().await?;
        self.templates_get(caller, id.0).await
    }

    async fn refuse_duplicate_template(&self, owner: i64, name: &str, except: Option<i64>) -> CoreResult<()> {
        let n: (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM launch_templates WHERE owner_id = $1 AND name = $2 AND id <> $3")
                .bind(owner)
                .bind(name)
                .bind(except.unwrap_or(0))
                .fetch_one(self.store().pool())
                .await?;
        if n.0 > 0 {
            return Err(CoreError::Conflict(format!("you already have a template named {name:?}")));
        }
        Ok(())
    }

    pub async fn templates_list(&self, caller: &Caller) -> CoreResult<Vec<Template>> {
        let mut out = Vec::new();
        for o in self.objects_list(caller, Some(ObjectKind::Template)).await? {
            let mut t = self.load_template(o.object_id).await?;
            t.my_rights = o.my_rights;
            out.push(t);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub async fn templates_get(&self, caller: &Caller, id: i64) -> CoreResult<Template> {
        self.template_with(caller, id, ObjectRight::View).await
    }

    /// Replaces a template's name and request ("change").
    pub async fn templates_replace(&self, caller: &Caller, id: i64, t: &NewTemplate) -> CoreResult<Template> {
        let before = self.template_with(caller, id, ObjectRight::Change).await?;
        let (provider_id, req) = self.check_template(caller, t).await?;
        self.refuse_duplicate_template(before.owner.id, &t.name, Some(id)).await?;
        let body = serde_json::to_string(&req).map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut tx = self.store().write_tx().await?;
        sqlx::query(
            "UPDATE launch_templates SET name = $1, provider_id = $2, request = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&t.name)
        .bind(provider_id)
        .bind(&body)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query("UPDATE objects SET name = $1 WHERE kind = 'template' AND id = $2")
            .bind(&t.name)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("template.update", AuditOutcome::Success)
                .target("template", id)
                .details(json!({"name": t.name})),
        )
        .await?;
        tx.commit().await?;
        self.templates_get(caller, id).await
    }

    pub async fn templates_delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        let t = self.template_with(caller, id, ObjectRight::Change).await?;
        let mut tx = self.store().write_tx().await?;
        Engine::unregister_object(&mut *tx.tx, ObjectKind::Template, id).await?;
        sqlx::query("DELETE FROM launch_templates WHERE id = $1").bind(id).execute(&mut *tx.tx).await?;
        crate::audit::write(
            &mut *tx.tx,
            &caller.actor(),
            AuditRecord::new("template.delete", AuditOutcome::Success)
                .target("template", id)
                .details(json!({"name": t.name})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Launches a template as saved (with a new name, count and setup password when given).
    pub async fn templates_launch(&self, caller: &Caller, id: i64, l: &TemplateLaunch) -> CoreResult<Launch> {
        let t = self.template_with(caller, id, ObjectRight::View).await?;
        let mut req = t.request;
        if let Some(n) = &l.name {
            req.name = n.clone();
        }
        if let Some(c) = l.count {
            req.count = Some(c);
        }
        match (req.setup.user.as_mut(), &l.password) {
            (Some(u), Some(p)) => u.password = p.clone(),
            (Some(u), None) => {
                return Err(CoreError::invalid(
                    "password",
                    format!("template {:?} sets the password of user {:?}: give the password", t.name, u.name),
                ))
            }
            (None, Some(_)) => {
                return Err(CoreError::invalid("password", "this template sets no user password"));
            }
            (None, None) => {}
        }
        self.launch_checked(caller, &req, true).await
    }
}
