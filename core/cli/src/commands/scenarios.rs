//! `wmai scenarios` (user defined scripts, manual 6.6) and `wmai templates` (cloud templates,
//! 7.3.3–7.3.5).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use wintermute_api::scenarios::{
    NewScript, Script, ScriptAccess, ScriptPatch, ScriptPlatform, ScriptStage, Template, TemplateLaunch,
};
use wintermute_api::setup::ScriptRun;

use super::providers::task_started;
use crate::exit::CliError;
use crate::output;
use crate::resolve::{parse_ref, Ref};
use crate::session::{App, Session};

#[derive(Debug, Args)]
pub struct ScenariosArgs {
    #[command(subcommand)]
    pub cmd: Option<ScenariosCmd>,
}

#[derive(Debug, Subcommand)]
pub enum ScenariosCmd {
    /// Scripts you may use or edit (the default)
    List,
    /// A script's settings and content
    Show { script: String },
    /// Create a script from a file (needs the "create UDS" permission)
    Create {
        /// The file name on the instances (e.g. configEnv.sh)
        #[arg(long)]
        name: String,
        /// The script's content ("-" reads stdin)
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "")]
        description: String,
        /// bash (the default), or another interpreter chosen by the #! line
        #[arg(long = "type", default_value = "bash")]
        script_type: String,
        /// linux-generic (default), debian, ubuntu, fedora, centos, rhel or sles
        #[arg(long, default_value = "linux-generic")]
        platform: String,
        /// private (default) or shared (every user may use it)
        #[arg(long, default_value = "private")]
        access: String,
        /// Default call parameters (may start with "-")
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        parameters: String,
    },
    /// Change a script
    Edit {
        script: String,
        #[arg(long)]
        name: Option<String>,
        /// New content from a file ("-" reads stdin)
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long = "type")]
        script_type: Option<String>,
        #[arg(long)]
        platform: Option<String>,
        #[arg(long)]
        access: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        parameters: Option<String>,
    },
    /// Delete a script
    Delete { script: String },
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(subcommand)]
    pub cmd: Option<TemplatesCmd>,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCmd {
    /// Templates you may use (the default); save one with `wmai instances launch … --save-template NAME`
    List,
    /// A template's request
    Show { template: String },
    /// Launch a template as saved and follow the launch
    Launch {
        template: String,
        /// Another name for the instances
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        count: Option<u32>,
        /// Read the setup user's password from stdin (templates never keep passwords)
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        no_follow: bool,
    },
    /// Delete a template
    Delete { template: String },
}

fn read_content(file: &PathBuf) -> anyhow::Result<String> {
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| CliError::usage(format!("cannot read the script from stdin: {e}")))?;
        buf
    } else {
        std::fs::read(file).map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?
    };
    String::from_utf8(bytes).map_err(|_| CliError::invalid("the script is not UTF-8 text").into())
}

fn platform_arg(p: &str) -> anyhow::Result<ScriptPlatform> {
    ScriptPlatform::parse(p).ok_or_else(|| {
        CliError::usage(format!(
            "unknown platform {p:?}: {}",
            ScriptPlatform::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .into()
    })
}

fn access_arg(a: &str) -> anyhow::Result<ScriptAccess> {
    ScriptAccess::parse(a).ok_or_else(|| CliError::usage(format!("unknown access {a:?}: private or shared")).into())
}

/// A script by id or by name (names must be unambiguous among the scripts you may see).
pub async fn script_by(s: &Session, arg: &str) -> anyhow::Result<Script> {
    match parse_ref(arg) {
        Ref::Id(id) => Ok(s.client.script(id).await?),
        Ref::Name(n) => {
            let mut found: Vec<Script> = s.client.scripts().await?.into_iter().filter(|x| x.name == n).collect();
            match found.len() {
                1 => Ok(found.remove(0)),
                0 => Err(CliError::not_found(format!("no script named {n:?} (see `wmai scenarios`)")).into()),
                _ => Err(CliError::invalid(format!("several scripts are named {n:?}; give the id")).into()),
            }
        }
    }
}

async fn template_by(s: &Session, arg: &str) -> anyhow::Result<Template> {
    match parse_ref(arg) {
        Ref::Id(id) => Ok(s.client.template(id).await?),
        Ref::Name(n) => {
            let mut found: Vec<Template> = s.client.templates().await?.into_iter().filter(|x| x.name == n).collect();
            match found.len() {
                1 => Ok(found.remove(0)),
                0 => Err(CliError::not_found(format!("no template named {n:?} (see `wmai templates`)")).into()),
                _ => Err(CliError::invalid(format!("several templates are named {n:?}; give the id")).into()),
            }
        }
    }
}

/// `SEQ:SCRIPT[:PARAMETERS]` of `wmai instances launch --script`: the script by id or name.
pub async fn script_run(s: &Session, spec: &str) -> anyhow::Result<ScriptRun> {
    let mut parts = spec.splitn(3, ':');
    let (Some(seq), Some(script)) = (parts.next(), parts.next()) else {
        return Err(CliError::usage(format!(
            "--script {spec:?}: use SEQUENCE:SCRIPT[:PARAMETERS], e.g. 10:runMPI.sh:-i /mnt/data/input.deck"
        ))
        .into());
    };
    let sequence: u32 = seq
        .trim()
        .parse()
        .map_err(|_| CliError::usage(format!("--script {spec:?}: the sequence {seq:?} is not a number")))?;
    let script = script_by(s, script.trim()).await?;
    Ok(ScriptRun { sequence, script_id: script.id, parameters: parts.next().map(str::to_owned) })
}

fn show_script(s: &Session, x: &Script, content: bool) -> anyhow::Result<()> {
    if s.json {
        return output::print_json(x);
    }
    output::print_table(output::properties(vec![
        ("id", x.id.to_string()),
        ("name", x.name.clone()),
        ("description", x.description.clone()),
        ("type", x.script_type.clone()),
        ("platform", x.platform.as_str().into()),
        ("stage", x.stage.as_str().into()),
        ("access", x.access.as_str().into()),
        ("parameters", x.parameters.clone()),
        ("owner", x.owner.login.clone()),
        ("your rights", output::list(x.my_rights.iter().map(|r| r.as_str()))),
        ("updated", output::time(x.updated_at)),
    ]));
    if content {
        out!("\n{}", x.content.trim_end());
    }
    Ok(())
}

pub async fn scenarios(app: &App, args: ScenariosArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(ScenariosCmd::List) {
        ScenariosCmd::List => {
            let items = s.client.scripts().await?;
            if s.json {
                return output::print_json(&items);
            }
            let mut t = output::table(["ID", "NAME", "DESCRIPTION", "PLATFORM", "ACCESS", "OWNER", "UPDATED"]);
            for x in &items {
                t.add_row(vec![
                    x.id.to_string(),
                    x.name.clone(),
                    x.description.clone(),
                    x.platform.as_str().into(),
                    x.access.as_str().into(),
                    x.owner.login.clone(),
                    output::time(x.updated_at),
                ]);
            }
            output::print_table(t);
            Ok(())
        }
        ScenariosCmd::Show { script } => {
            let x = script_by(&s, &script).await?;
            show_script(&s, &x, true)
        }
        ScenariosCmd::Create { name, file, description, script_type, platform, access, parameters } => {
            let req = NewScript {
                name,
                description,
                script_type,
                platform: platform_arg(&platform)?,
                stage: ScriptStage::PostDataTransfer,
                access: access_arg(&access)?,
                parameters,
                content: read_content(&file)?,
            };
            let x = s.client.create_script(&req).await?;
            show_script(&s, &x, false)
        }
        ScenariosCmd::Edit { script, name, file, description, script_type, platform, access, parameters } => {
            let x = script_by(&s, &script).await?;
            let patch = ScriptPatch {
                name,
                description,
                script_type,
                platform: platform.as_deref().map(platform_arg).transpose()?,
                stage: None,
                access: access.as_deref().map(access_arg).transpose()?,
                parameters,
                content: file.as_ref().map(read_content).transpose()?,
            };
            let x = s.client.update_script(x.id, &patch).await?;
            show_script(&s, &x, false)
        }
        ScenariosCmd::Delete { script } => {
            let x = script_by(&s, &script).await?;
            s.client.delete_script(x.id).await?;
            super::done(s.json, format!("Deleted script {} ({})", x.name, x.id));
            Ok(())
        }
    }
}

pub async fn templates(app: &App, args: TemplatesArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(TemplatesCmd::List) {
        TemplatesCmd::List => {
            let items = s.client.templates().await?;
            if s.json {
                return output::print_json(&items);
            }
            let mut t = output::table(["ID", "NAME", "IMAGE", "TYPE", "COUNT", "OWNER", "UPDATED"]);
            for x in &items {
                t.add_row(vec![
                    x.id.to_string(),
                    x.name.clone(),
                    x.request.image_id.to_string(),
                    x.request.instance_type.clone(),
                    x.request.count.unwrap_or(1).to_string(),
                    x.owner.login.clone(),
                    output::time(x.updated_at),
                ]);
            }
            output::print_table(t);
            Ok(())
        }
        TemplatesCmd::Show { template } => {
            let x = template_by(&s, &template).await?;
            if s.json {
                return output::print_json(&x);
            }
            out!("template {} ({}), owner {}", x.name, x.id, x.owner.login);
            output::print_json(&x.request)
        }
        TemplatesCmd::Launch { template, name, count, password_stdin, no_follow } => {
            let x = template_by(&s, &template).await?;
            let password = match &x.request.setup.user {
                Some(u) => Some(crate::input::password(
                    password_stdin,
                    &format!("Password for {} on the instances: ", u.name),
                    "password",
                    "--password-stdin",
                )?),
                None => None,
            };
            let launch = s.client.launch_template(x.id, &TemplateLaunch { name, count, password }).await?;
            if !s.json {
                let ids: Vec<String> = launch.instances.iter().map(|i| format!("{} ({})", i.name, i.id)).collect();
                out!("Launching {} from template {}", ids.join(", "), x.name);
            }
            task_started(&s, launch.task.id, no_follow).await
        }
        TemplatesCmd::Delete { template } => {
            let x = template_by(&s, &template).await?;
            s.client.delete_template(x.id).await?;
            super::done(s.json, format!("Deleted template {} ({})", x.name, x.id));
            Ok(())
        }
    }
}
