//! Scenarios (manual 6.6): the user defined scripts (UDS) a user may use, the UDS editor (name,
//! description, type, platform, stage, access, default parameters, content), "Edit security" and
//! delete. Creating needs the "Create UDS" permission; editing the "Change UDS" right.

use leptos::prelude::*;
use wintermute_api::client::Client;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::scenarios::{NewScript, Script, ScriptAccess, ScriptPatch, ScriptPlatform, ScriptStage};
use wintermute_api::setup::parse_parameters;
use wintermute_api::users::Permission;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::security::SecurityDialog;
use crate::ui::{fmt_time, open_button, Confirm, ErrorBox, ListTable, Modal};

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    New,
    Edit(Script),
    Security(i64),
    Delete(Script),
}

pub fn platform_text(p: ScriptPlatform) -> &'static str {
    match p {
        ScriptPlatform::LinuxGeneric => "Linux (any)",
        ScriptPlatform::Debian => "Debian",
        ScriptPlatform::Ubuntu => "Ubuntu",
        ScriptPlatform::Fedora => "Fedora",
        ScriptPlatform::Centos => "CentOS",
        ScriptPlatform::Rhel => "RHEL",
        ScriptPlatform::Sles => "SLES",
    }
}

#[component]
pub fn Scenarios() -> impl IntoView {
    let auth = use_auth();
    let scripts = RwSignal::new(Loaded::<Vec<Script>>::Loading);
    let dialog = RwSignal::new(Dialog::None);
    let reload = move || load_into(auth, scripts, |c| async move { c.scripts().await });
    reload();
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let done = Callback::new(move |_| {
        dialog.set(Dialog::None);
        reload();
    });
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Scenarios"</h1>
                <Show when=move || auth.can(Permission::CreateUds)>
                    <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::New)>"New script"</button>
                </Show>
            </div>
            <p class="hint">
                "User defined scripts run on new instances at the end of their set-up, in the order of their sequence numbers (Create Instance → Setup)."
            </p>
            <ListTable
                list=scripts
                headers=&["Name", "Description", "Type", "Platform", "Access", "Parameters", "Owner", "Updated", ""]
                empty="No scripts yet."
                row=move |s: Script| {
                    let id = s.id;
                    let may_change = s.my_rights.contains(&ObjectRight::Change);
                    let owns = auth.is_admin() || s.owner.id == auth.user_id();
                    view! {
                        <tr data-script=s.name.clone()>
                            <td><strong>{s.name.clone()}</strong></td>
                            <td>{s.description.clone()}</td>
                            <td>{s.script_type.clone()}</td>
                            <td>{platform_text(s.platform)}</td>
                            <td>{s.access.as_str()}</td>
                            <td><code>{s.parameters.clone()}</code></td>
                            <td>{s.owner.login.clone()}</td>
                            <td class="sub">{fmt_time(&s.updated_at)}</td>
                            <td class="actions">
                                {open_button(dialog, Dialog::Edit(s.clone()), if may_change { "Edit" } else { "View" }, false)}
                                {owns.then(|| open_button(dialog, Dialog::Security(id), "Edit security", false))}
                                {may_change.then(|| open_button(dialog, Dialog::Delete(s.clone()), "Delete", true))}
                            </td>
                        </tr>
                    }
                }
            />
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::New => view! { <ScriptDialog script=None on_close=close on_done=done /> }.into_any(),
                Dialog::Edit(s) => view! { <ScriptDialog script=Some(s) on_close=close on_done=done /> }.into_any(),
                Dialog::Security(id) => view! { <SecurityDialog kind=ObjectKind::Uds id=id on_close=close /> }.into_any(),
                Dialog::Delete(s) => {
                    let id = s.id;
                    view! {
                        <Confirm
                            title=format!("Delete script {}", s.name)
                            text="Launches under way keep their copy; templates that name it will be refused."
                            confirm="Delete"
                            on_close=close
                            on_done=done
                            action=move |c: Client| async move { c.delete_script(id).await }
                        />
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// The UDS editor: a new script, or an existing one (read-only without the "Change UDS" right).
#[component]
fn ScriptDialog(script: Option<Script>, on_close: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let read_only = script.as_ref().is_some_and(|s| !s.my_rights.contains(&ObjectRight::Change));
    let s = script.clone();
    let name = RwSignal::new(s.as_ref().map(|s| s.name.clone()).unwrap_or_default());
    let description = RwSignal::new(s.as_ref().map(|s| s.description.clone()).unwrap_or_default());
    let script_type = RwSignal::new(s.as_ref().map(|s| s.script_type.clone()).unwrap_or_else(|| "bash".into()));
    let platform = RwSignal::new(s.as_ref().map(|s| s.platform).unwrap_or_default());
    let access = RwSignal::new(s.as_ref().map(|s| s.access).unwrap_or_default());
    let parameters = RwSignal::new(s.as_ref().map(|s| s.parameters.clone()).unwrap_or_default());
    let content = RwSignal::new(s.as_ref().map(|s| s.content.clone()).unwrap_or_else(|| "#!/bin/bash\n".into()));
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = s.as_ref().map(|s| s.id);
    let may_share = auth.can(Permission::CreateUds);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Err(e) = parse_parameters(&parameters.get_untracked()) {
            error.set(Some(format!("Default parameters: {}", e.reason)));
            return;
        }
        match id {
            None => {
                let req = NewScript {
                    name: name.get_untracked(),
                    description: description.get_untracked(),
                    script_type: script_type.get_untracked(),
                    platform: platform.get_untracked(),
                    stage: ScriptStage::PostDataTransfer,
                    access: access.get_untracked(),
                    parameters: parameters.get_untracked(),
                    content: content.get_untracked(),
                };
                act(
                    auth,
                    busy,
                    error,
                    move |c: Client| async move { c.create_script(&req).await },
                    move |_| on_done.run(()),
                );
            }
            Some(id) => {
                let p = ScriptPatch {
                    name: Some(name.get_untracked()),
                    description: Some(description.get_untracked()),
                    script_type: Some(script_type.get_untracked()),
                    platform: Some(platform.get_untracked()),
                    stage: None,
                    access: Some(access.get_untracked()),
                    parameters: Some(parameters.get_untracked()),
                    content: Some(content.get_untracked()),
                };
                act(
                    auth,
                    busy,
                    error,
                    move |c: Client| async move { c.update_script(id, &p).await },
                    move |_| on_done.run(()),
                );
            }
        }
    };
    let title = match &script {
        None => "New script".to_string(),
        Some(s) if read_only => format!("Script {}", s.name),
        Some(s) => format!("Edit script {}", s.name),
    };
    view! {
        <Modal title=title on_close=on_close wide=true>
            <form class="modal-body stack" on:submit=submit>
                <fieldset class="plain-fieldset stack" prop:disabled=read_only>
                    <div class="row2">
                        <label>
                            "Name"
                            <input type="text" name="name" required placeholder="configEnv.sh" bind:value=name />
                            <span class="hint">"The file name on the instance."</span>
                        </label>
                        <label>
                            "Type"
                            <input type="text" name="script_type" bind:value=script_type />
                            <span class="hint">"bash runs it with bash; anything else runs the file (its #! line decides)."</span>
                        </label>
                    </div>
                    <label>"Description" <input type="text" name="description" bind:value=description /></label>
                    <div class="row3">
                        <label>
                            "Platform"
                            <select name="platform" on:change=move |ev| {
                                if let Some(p) = ScriptPlatform::parse(&event_target_value(&ev)) {
                                    platform.set(p);
                                }
                            }>
                                {ScriptPlatform::ALL
                                    .into_iter()
                                    .map(|p| view! { <option value=p.as_str() selected=move || platform.get() == p>{platform_text(p)}</option> })
                                    .collect_view()}
                            </select>
                        </label>
                        <label>
                            "Stage"
                            <select name="stage" disabled=true>
                                <option value="post-data-transfer" selected=true>"after the set-up and data transfers"</option>
                            </select>
                        </label>
                        <label>
                            "Access"
                            <select name="access" on:change=move |ev| {
                                if let Some(a) = ScriptAccess::parse(&event_target_value(&ev)) {
                                    access.set(a);
                                }
                            }>
                                <option value="private" selected=move || access.get() == ScriptAccess::Private>
                                    "private (me and the groups I give rights)"
                                </option>
                                <option value="shared" selected=move || access.get() == ScriptAccess::Shared disabled=!may_share>
                                    "shared (every user)"
                                </option>
                            </select>
                        </label>
                    </div>
                    <label>
                        "Default parameters"
                        <input type="text" name="parameters" placeholder="-f /mnt/data/myEnv.cfg" bind:value=parameters />
                        <span class="hint">"Split like a shell does (quotes group words); nothing is expanded."</span>
                    </label>
                    <label>
                        "Content"
                        <textarea name="content" class="code" rows="16" spellcheck="false" bind:value=content></textarea>
                        <span class="hint">"WMAIC_* variables are in /etc/profile.d/wmaic.sh on the instance."</span>
                    </label>
                </fieldset>
                <ErrorBox error=error />
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>{if read_only { "Close" } else { "Cancel" }}</button>
                    <Show when=move || !read_only>
                        <button type="submit" class="primary" disabled=move || busy.get()>"Save"</button>
                    </Show>
                </div>
            </form>
        </Modal>
    }
}
