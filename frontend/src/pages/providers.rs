//! Cloud providers (manual 6.3): the list, "New provider", the settings dialog with its
//! Credentials / Regions / Instance types / Summary tabs, "Synchronize configuration" with its
//! live task log, "Edit security" and delete.

use leptos::prelude::*;
use wintermute_api::providers::{NewProvider, Provider, ProviderKind, ProviderPatch};
use wintermute_api::rights::ObjectKind;
use wintermute_api::tasks::TaskState;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::events::use_live;
use crate::pages::security::SecurityDialog;
use crate::pages::tasks::TaskFollow;
use crate::ui::{fmt_opt_time, open_button, tab_button, Confirm, ErrorBox, ListTable, MenuButton, Modal};
use wintermute_api::client::Client;

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    New(ProviderKind),
    Edit(Provider),
    Security(i64),
    Delete(Provider),
}

pub fn kind_name(k: ProviderKind) -> &'static str {
    match k {
        ProviderKind::Aws => "AWS",
        ProviderKind::Openstack => "OpenStack",
        ProviderKind::Local => "Local (QEMU)",
    }
}

#[component]
pub fn Providers() -> impl IntoView {
    let auth = use_auth();
    let providers = RwSignal::new(Loaded::<Vec<Provider>>::Loading);
    let dialog = RwSignal::new(Dialog::None);
    let new_menu = RwSignal::new(false);
    let reload = move || load_into(auth, providers, |c| async move { c.providers().await });
    reload();
    let close = Callback::new(move |_| {
        dialog.set(Dialog::None);
        reload();
    });
    let changed = Callback::new(move |_| reload());
    let admin = move || auth.is_admin();
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Cloud providers"</h1>
                <Show when=admin>
                    <MenuButton
                        open=new_menu
                        set_open=Callback::new(move |o| new_menu.set(o))
                        text="New provider ▾".to_string()
                        class="primary"
                    >
                        {[ProviderKind::Aws, ProviderKind::Openstack, ProviderKind::Local]
                            .into_iter()
                            .map(|k| {
                                view! {
                                    <button type="button" role="menuitem" on:click=move |_| dialog.set(Dialog::New(k))>
                                        {kind_name(k)}
                                    </button>
                                }
                            })
                            .collect_view()}
                        <button type="button" role="menuitem" disabled title="Not available in this version yet">
                            "OpenStack (not yet available)"
                        </button>
                    </MenuButton>
                </Show>
            </div>
            <ListTable
                list=providers
                headers=&["Name", "Type", "Status", "Default region", "Regions", "Instance types", "Synchronized", ""]
                empty=if auth.is_admin() {
                    "No provider yet: configure one with \"New provider\"."
                } else {
                    "No provider is shared with you yet."
                }
                row=move |p: Provider| view! { <ProviderRow p=p dialog=dialog /> }
            />
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::New(kind) => view! { <ProviderDialog existing=None kind=kind on_close=close on_changed=changed /> }.into_any(),
                Dialog::Edit(p) => {
                    let kind = p.kind;
                    view! { <ProviderDialog existing=Some(p) kind=kind on_close=close on_changed=changed /> }.into_any()
                }
                Dialog::Security(id) => {
                    view! { <SecurityDialog kind=ObjectKind::Provider id=id on_close=close /> }.into_any()
                }
                Dialog::Delete(p) => view! { <DeleteProviderDialog p=p on_close=close /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ProviderRow(p: Provider, dialog: RwSignal<Dialog>) -> impl IntoView {
    let auth = use_auth();
    let allowed_regions = p.regions.iter().filter(|r| r.allowed).count();
    let allowed_types = p.instance_types.iter().filter(|t| t.allowed).count();
    let id = p.id;
    view! {
        <tr data-provider=p.name.clone()>
            <td>
                <strong>{p.name.clone()}</strong>
                <div class="sub">{p.description.clone()}</div>
            </td>
            <td>{kind_name(p.kind)}</td>
            <td>
                <span class=format!("badge provider-{}", p.status)>{p.status.clone()}</span>
                <div class="sub">{p.status_message.clone()}</div>
            </td>
            <td>{p.default_region.clone()}</td>
            <td>{format!("{allowed_regions} of {}", p.regions.len())}</td>
            <td>{format!("{allowed_types} of {}", p.instance_types.len())}</td>
            <td>{fmt_opt_time(&p.synced_at)}</td>
            <td class="actions">
                {auth.is_admin().then(|| view! {
                    {open_button(dialog, Dialog::Edit(p.clone()), "Edit", false)}
                    {open_button(dialog, Dialog::Security(id), "Edit security", false)}
                    {open_button(dialog, Dialog::Delete(p.clone()), "Delete", true)}
                })}
            </td>
        </tr>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Credentials,
    Regions,
    Types,
    Summary,
}

/// "AWS Settings" / "Local Settings": create, then synchronize, then choose what users may use.
#[component]
fn ProviderDialog(
    existing: Option<Provider>,
    kind: ProviderKind,
    on_close: Callback<()>,
    /// The list behind the dialog reloads after each save and synchronization.
    on_changed: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let provider = RwSignal::new(existing.clone());
    let tab = RwSignal::new(Tab::Credentials);
    let name = RwSignal::new(existing.as_ref().map(|p| p.name.clone()).unwrap_or_default());
    let description = RwSignal::new(existing.as_ref().map(|p| p.description.clone()).unwrap_or_default());
    let access_key = RwSignal::new(existing.as_ref().map(|p| p.access_key_id.clone()).unwrap_or_default());
    let secret = RwSignal::new(String::new());
    let endpoint = RwSignal::new(existing.as_ref().and_then(|p| p.endpoint_url.clone()).unwrap_or_default());
    let region = RwSignal::new(existing.as_ref().map(|p| p.default_region.clone()).unwrap_or_default());
    let regions = RwSignal::new(Vec::<String>::new());
    let types = RwSignal::new(Vec::<String>::new());
    let sync_task = RwSignal::new(None::<i64>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let aws = kind == ProviderKind::Aws;
    let openstack = kind == ProviderKind::Openstack;
    // Both clouds take a login and a secret (AWS: access key id and secret key; OpenStack: user
    // name and password) and an endpoint (OpenStack: the Keystone auth URL).
    let cloud = aws || openstack;
    let project = RwSignal::new(existing.as_ref().and_then(|p| p.project.clone()).unwrap_or_default());
    let domain = RwSignal::new(existing.as_ref().and_then(|p| p.domain.clone()).unwrap_or_else(|| "Default".into()));
    let address_mode =
        RwSignal::new(existing.as_ref().and_then(|p| p.address_mode.clone()).unwrap_or_else(|| "floating".into()));

    // The allowed lists follow the provider as (re)loaded.
    Effect::new(move |_| {
        if let Some(p) = provider.get() {
            regions.set(p.regions.iter().filter(|r| r.allowed).map(|r| r.name.clone()).collect());
            types.set(p.instance_types.iter().filter(|t| t.allowed).map(|t| t.name.clone()).collect());
        }
    });
    // When the synchronization task ends, reload the provider: its regions and types are in.
    let sync_state =
        Memo::new(move |_| sync_task.get().and_then(|id| live.tasks.with(|t| t.get(&id).map(|t| t.state))));
    Effect::new(move |_| {
        if let (Some(state), Some(p), Some(tid)) =
            (sync_state.get(), provider.get_untracked(), sync_task.get_untracked())
        {
            if state.is_finished() {
                let id = p.id;
                let fetch = move |c: wintermute_api::client::Client| async move {
                    // The whole log too, in case live updates missed lines.
                    Ok((c.provider(id).await?, c.task_log(tid, None).await?))
                };
                act(auth, busy, error, fetch, move |(p, log)| {
                    live.merge_log(tid, log);
                    let synced = p.status == "synced";
                    provider.set(Some(p));
                    on_changed.run(());
                    if synced && state == TaskState::Succeeded {
                        notice.set(Some("Synchronized: choose the regions and instance types users may use.".into()));
                    }
                });
            }
        }
    });

    let save = move || {
        notice.set(None);
        match provider.get_untracked() {
            None => {
                let req = NewProvider {
                    kind: Some(kind),
                    name: name.get_untracked(),
                    description: description.get_untracked(),
                    access_key_id: if cloud { access_key.get_untracked() } else { String::new() },
                    secret_access_key: if cloud { secret.get_untracked() } else { String::new() },
                    endpoint_url: Some(endpoint.get_untracked()).filter(|e| cloud && !e.trim().is_empty()),
                    default_region: Some(region.get_untracked()).filter(|r| cloud && !r.trim().is_empty()),
                    project: Some(project.get_untracked()).filter(|p| openstack && !p.trim().is_empty()),
                    domain: Some(domain.get_untracked()).filter(|d| openstack && !d.trim().is_empty()),
                    address_mode: Some(address_mode.get_untracked()).filter(|_| openstack),
                };
                act(
                    auth,
                    busy,
                    error,
                    move |c| async move { c.create_provider(&req).await },
                    move |p| {
                        secret.set(String::new());
                        provider.set(Some(p));
                        notice.set(Some(
                            "Saved. Now synchronize the configuration to load regions and instance types.".into(),
                        ));
                    },
                );
            }
            Some(old) => {
                let id = old.id;
                let changed = |new: String, old: &str| Some(new).filter(|n| n != old);
                let p = ProviderPatch {
                    name: changed(name.get_untracked(), &old.name),
                    description: changed(description.get_untracked(), &old.description),
                    access_key_id: if cloud { changed(access_key.get_untracked(), &old.access_key_id) } else { None },
                    secret_access_key: Some(secret.get_untracked()).filter(|s| cloud && !s.is_empty()),
                    endpoint_url: if cloud {
                        changed(endpoint.get_untracked(), old.endpoint_url.as_deref().unwrap_or(""))
                    } else {
                        None
                    },
                    default_region: if cloud { changed(region.get_untracked(), &old.default_region) } else { None },
                    project: if openstack {
                        changed(project.get_untracked(), old.project.as_deref().unwrap_or(""))
                    } else {
                        None
                    },
                    domain: if openstack {
                        changed(domain.get_untracked(), old.domain.as_deref().unwrap_or("Default"))
                    } else {
                        None
                    },
                    address_mode: if openstack {
                        changed(address_mode.get_untracked(), old.address_mode.as_deref().unwrap_or("floating"))
                    } else {
                        None
                    },
                    allowed_regions: (!old.regions.is_empty()).then(|| regions.get_untracked()),
                    allowed_instance_types: (!old.instance_types.is_empty()).then(|| types.get_untracked()),
                };
                act(
                    auth,
                    busy,
                    error,
                    move |c| async move { c.update_provider(id, &p).await },
                    move |p| {
                        secret.set(String::new());
                        provider.set(Some(p));
                        notice.set(Some("Saved.".into()));
                    },
                );
            }
        }
    };
    let sync = move |_| {
        let Some(p) = provider.get_untracked() else { return };
        let id = p.id;
        notice.set(None);
        act(
            auth,
            busy,
            error,
            move |c| async move { c.sync_provider(id).await },
            move |t| {
                sync_task.set(Some(t.id));
                live.merge_task(t);
            },
        );
    };
    let synced = move || provider.with(|p| p.as_ref().is_some_and(|p| !p.regions.is_empty()));
    let title = move || match provider.get() {
        Some(p) => format!("{} settings: {}", kind_name(kind), p.name),
        None => format!("New provider: {}", kind_name(kind)),
    };
    view! {
        <Modal title=Signal::derive(title) on_close=on_close wide=true>
            <div class="tabs" role="tablist">
                {tab_button(tab, Tab::Credentials, "Credentials")}
                <Show when=synced>
                    {tab_button(tab, Tab::Regions, "Regions")}
                    {tab_button(tab, Tab::Types, "Instance types")}
                </Show>
                {tab_button(tab, Tab::Summary, "Summary")}
            </div>
            <form
                class="modal-body stack"
                on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    save();
                }
            >
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Credentials>
                    <label>"Name" <input type="text" name="name" required bind:value=name /></label>
                    <label>"Description" <input type="text" name="description" bind:value=description /></label>
                    <Show when=move || aws>
                        <label>"Access Key Id" <input type="text" name="access_key_id" autocomplete="off" bind:value=access_key /></label>
                        <label>
                            "Secret Access Key"
                            <input
                                type="password"
                                name="secret_access_key"
                                autocomplete="new-password"
                                placeholder=move || if provider.with(|p| p.is_some()) { "unchanged" } else { "" }
                                bind:value=secret
                            />
                        </label>
                        <label>"Default region" <input type="text" name="default_region" placeholder="us-east-1" bind:value=region /></label>
                        <label>
                            "Endpoint URL (optional)"
                            <input type="url" name="endpoint_url" placeholder="another EC2 endpoint than AWS's own" bind:value=endpoint />
                        </label>
                    </Show>
                    <Show when=move || openstack>
                        <label>
                            "Auth URL"
                            <input type="url" name="auth_url" required placeholder="https://keystone.example.com:5000" bind:value=endpoint />
                            <span class="hint">"The Keystone service, without an API version at the end."</span>
                        </label>
                        <div class="row2">
                            <label>"Project" <input type="text" name="project" required placeholder="project or tenant name" bind:value=project /></label>
                            <label>"Domain" <input type="text" name="domain" placeholder="Default" bind:value=domain /></label>
                        </div>
                        <div class="row2">
                            <label>"User name" <input type="text" name="user" required autocomplete="off" bind:value=access_key /></label>
                            <label>
                                "Password"
                                <input
                                    type="password"
                                    name="password"
                                    autocomplete="new-password"
                                    required=move || provider.with(|p| p.is_none())
                                    placeholder=move || if provider.with(|p| p.is_some()) { "unchanged" } else { "" }
                                    bind:value=secret
                                />
                            </label>
                        </div>
                        <div class="row2">
                            <label>"Region" <input type="text" name="default_region" placeholder="RegionOne" bind:value=region /></label>
                            <label>
                                "Addresses"
                                <select name="address_mode" on:change=move |ev| address_mode.set(event_target_value(&ev))>
                                    <option value="floating" selected=move || address_mode.get() == "floating">
                                        "floating: each server gets a floating IP"
                                    </option>
                                    <option value="fixed" selected=move || address_mode.get() == "fixed">
                                        "fixed: the core is inside the cloud's network"
                                    </option>
                                </select>
                            </label>
                        </div>
                    </Show>
                    <Show when=move || !cloud>
                        <p class="hint">"A local provider runs instances as QEMU guests on the core's own machine: no credentials."</p>
                    </Show>
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Regions>
                    <p class="hint">"The regions users may use."</p>
                    <fieldset class="checks columns">
                        <legend class="sr-only">"Regions"</legend>
                        {move || {
                            provider
                                .get()
                                .map(|p| p.regions.iter().map(|r| checkbox(regions, r.name.clone(), r.name.clone())).collect_view())
                        }}
                    </fieldset>
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Types>
                    <p class="hint">"The instance types users may launch. Bigger ones cost more."</p>
                    <fieldset class="checks columns">
                        <legend class="sr-only">"Instance types"</legend>
                        {move || {
                            provider
                                .get()
                                .map(|p| {
                                    p.instance_types
                                        .iter()
                                        .map(|t| {
                                            let label = format!("{} ({} vCPU, {} MiB)", t.name, t.vcpus, t.memory_mib);
                                            checkbox(types, t.name.clone(), label)
                                        })
                                        .collect_view()
                                })
                        }}
                    </fieldset>
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Summary>
                    {move || match provider.get() {
                        None => view! { <p class="muted">"Not saved yet."</p> }.into_any(),
                        Some(p) => {
                            view! {
                                <dl class="facts">
                                    <dt>"Name"</dt>
                                    <dd>{p.name.clone()}</dd>
                                    <dt>"Type"</dt>
                                    <dd>{kind_name(p.kind)}</dd>
                                    <dt>"Status"</dt>
                                    <dd>{format!("{} {}", p.status, p.status_message)}</dd>
                                    <dt>"Synchronized"</dt>
                                    <dd>{fmt_opt_time(&p.synced_at)}</dd>
                                    {(p.kind == ProviderKind::Openstack)
                                        .then(|| {
                                            view! {
                                                <dt>"Auth URL"</dt>
                                                <dd><code>{p.endpoint_url.clone().unwrap_or_default()}</code></dd>
                                                <dt>"Project / domain"</dt>
                                                <dd>{format!("{} / {}", p.project.clone().unwrap_or_default(), p.domain.clone().unwrap_or_default())}</dd>
                                                <dt>"User"</dt>
                                                <dd>{p.access_key_id.clone()}</dd>
                                                <dt>"Region / addresses"</dt>
                                                <dd>{format!("{} / {}", p.default_region, p.address_mode.clone().unwrap_or_default())}</dd>
                                            }
                                        })}
                                    <dt>"Allowed regions"</dt>
                                    <dd>{move || regions.get().join(", ")}</dd>
                                    <dt>"Allowed instance types"</dt>
                                    <dd>{move || types.get().join(", ")}</dd>
                                </dl>
                            }
                                .into_any()
                        }
                    }}
                </div>
                {move || sync_task.get().map(|id| view! { <TaskFollow task_id=id class="sync-progress" label="Synchronization" /> })}
                <ErrorBox error=error />
                {move || notice.get().map(|n| view! { <p class="ok" role="status">{n}</p> })}
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                    <button
                        type="button"
                        class="sync"
                        disabled=move || {
                            busy.get() || provider.with(|p| p.is_none())
                                || sync_state.get().is_some_and(|s| !s.is_finished())
                        }
                        title=move || if provider.with(|p| p.is_none()) { "Save first" } else { "" }
                        on:click=sync
                    >
                        "Synchronize configuration"
                    </button>
                    <button type="submit" class="primary" disabled=move || busy.get()>"Save"</button>
                </div>
            </form>
        </Modal>
    }
}

/// A checkbox adding or removing `value` in `set`.
fn checkbox(set: RwSignal<Vec<String>>, value: String, label: String) -> impl IntoView {
    let v = value.clone();
    let v2 = value.clone();
    view! {
        <label class="check">
            <input
                type="checkbox"
                name=value
                prop:checked=move || set.with(|s| s.contains(&v))
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    let v = v2.clone();
                    set.update(|s| {
                        s.retain(|x| *x != v);
                        if on {
                            s.push(v);
                        }
                    });
                }
            />
            {format!(" {label}")}
        </label>
    }
}

#[component]
fn DeleteProviderDialog(p: Provider, on_close: Callback<()>) -> impl IntoView {
    let id = p.id;
    view! {
        <Confirm
            title=format!("Delete provider {}", p.name)
            text="Only a provider without images and instances can be deleted."
            confirm="Delete"
            on_close=on_close
            on_done=on_close
            action=move |c: Client| async move { c.delete_provider(id).await }
        />
    }
}
