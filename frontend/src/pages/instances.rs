//! Instances (manual 7.3): the list with its status colours and extra-info pop-overs (7.3.1), the
//! actions of each instance (7.3.6) and the batch actions on the ticked ones (7.3.7). The
//! "Create Instance" dialog is in `launch`.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::components::A;
use wintermute_api::client::Client;
use wintermute_api::instances::{Instance, InstanceAction, InstanceStatus};
use wintermute_api::providers::ProviderKind;
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::tasks::Task;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::events::use_live;
use crate::pages::images::os_name;
use crate::pages::launch::LaunchDialog;
use crate::pages::security::SecurityDialog;
use crate::pages::transfer::{Target, TransferDialog, Way};
use crate::rights::{load_rights, Rights};
use crate::ui::{fmt_time, menu_item, Confirm, ErrorBox, Info, MenuButton, RowMenu};

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    Launch,
    Security(i64),
    Terminate(Vec<Instance>),
    Transfer(Target, Way),
}

/// The row colour of a status (7.3.1): green ready, yellow not ready, white on the way.
pub fn status_class(s: InstanceStatus) -> &'static str {
    use InstanceStatus as S;
    match s {
        S::Running => "row-ready",
        S::Initializing | S::Rebooting | S::Mounting | S::Terminating | S::Failed => "row-busy",
        S::Creating | S::Stopped | S::ShuttingDown | S::Terminated => "row-idle",
    }
}

/// The manual's word for a status.
pub fn status_text(s: InstanceStatus) -> &'static str {
    match s {
        InstanceStatus::ShuttingDown => "shutting-down",
        other => other.as_str(),
    }
}

/// Whether the core takes `action` on an instance in status `s` (the engine's transition table).
pub fn action_allowed(action: InstanceAction, s: InstanceStatus) -> bool {
    use InstanceStatus as S;
    match action {
        InstanceAction::PowerOff => matches!(s, S::Running | S::Initializing | S::Mounting | S::Failed | S::Rebooting),
        InstanceAction::PowerOn => matches!(s, S::Stopped | S::Failed),
        InstanceAction::Reboot => matches!(s, S::Running | S::Failed),
        InstanceAction::Terminate => !matches!(s, S::Terminated | S::Terminating | S::Creating),
        InstanceAction::MountStorage => matches!(s, S::Running | S::Failed),
        InstanceAction::RetrySetup => s == S::Failed,
    }
}

pub fn action_text(a: InstanceAction) -> &'static str {
    match a {
        InstanceAction::PowerOff => "Power off",
        InstanceAction::PowerOn => "Power on",
        InstanceAction::Reboot => "Reboot",
        InstanceAction::Terminate => "Terminate",
        InstanceAction::MountStorage => "Mount storage",
        InstanceAction::RetrySetup => "Retry set-up",
    }
}

pub fn kind_text(k: ProviderKind) -> &'static str {
    match k {
        ProviderKind::Aws => "AWS",
        ProviderKind::Openstack => "OpenStack",
        ProviderKind::Local => "Local",
    }
}

fn storage_text(i: &Instance) -> String {
    if i.volumes.is_empty() {
        return "—".into();
    }
    let gb: i64 = i.volumes.iter().map(|v| v.size_gb).sum();
    let lock = if i.volumes.iter().all(|v| v.encrypted) { " 🔒" } else { "" };
    format!("{gb} GB{lock}")
}

#[component]
pub fn Instances() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let instances = RwSignal::new(Loaded::<Vec<Instance>>::Loading);
    let rights = RwSignal::new(Rights::default());
    let provider_rights = RwSignal::new(Rights::default());
    let show_all = RwSignal::new(false);
    let dialog = RwSignal::new(Dialog::None);
    let selected = RwSignal::new(BTreeSet::<i64>::new());
    let menu = RwSignal::new(None::<i64>);
    let batch_open = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let started = RwSignal::new(None::<Task>);
    let reload = move || {
        let all = show_all.get_untracked();
        load_into(auth, instances, move |c| async move { c.instances(all).await });
        load_rights(auth, ObjectKind::Instance, rights, provider_rights);
    };
    // Reload when an instance changes (live events), on reconnects and when the filter changes.
    Effect::new(move |_| {
        live.resources.track();
        live.generation.track();
        show_all.track();
        reload();
    });
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let run_action = Callback::new(move |(ids, action): (Vec<i64>, InstanceAction)| {
        let done = move |t: Task| {
            started.set(Some(t));
            selected.set(BTreeSet::new());
        };
        if let [id] = ids[..] {
            act(auth, busy, error, move |c: Client| async move { c.instance_action(id, action).await }, done);
        } else {
            act(auth, busy, error, move |c: Client| async move { c.batch_action(&ids, action).await }, done);
        }
    });
    let may_launch = move || {
        provider_rights.with(|r| r.any(ObjectRight::CreateInstances) || r.any(ObjectRight::CreateInstanceFromTemplate))
    };
    let list = move || instances.with(|l| l.ready().cloned().unwrap_or_default());
    let controllable = move || {
        let r = rights.get();
        list().into_iter().filter(|i| r.may(i.id, ObjectRight::Control)).map(|i| i.id).collect::<BTreeSet<_>>()
    };
    let batch = move |action: InstanceAction| {
        batch_open.set(false);
        let ids: Vec<i64> = selected.get_untracked().into_iter().collect();
        if ids.is_empty() {
            return;
        }
        if action == InstanceAction::Terminate {
            let chosen = list().into_iter().filter(|i| ids.contains(&i.id)).collect();
            dialog.set(Dialog::Terminate(chosen));
        } else {
            run_action.run((ids, action));
        }
    };
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Instances"</h1>
                <div class="buttons">
                    <MenuButton
                        open=batch_open
                        set_open=Callback::new(move |o| batch_open.set(o))
                        text=Signal::derive(move || format!("Batch actions ({})", selected.with(|s| s.len())))
                        class="batch"
                        disabled=Signal::derive(move || selected.with(|s| s.is_empty()) || busy.get())
                    >
                        {InstanceAction::ALL
                            .into_iter()
                            .map(|a| {
                                view! {
                                    <button type="button" role="menuitem" on:click=move |_| batch(a)>
                                        {action_text(a)}
                                    </button>
                                }
                            })
                            .collect_view()}
                    </MenuButton>
                    <Show when=may_launch>
                        <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::Launch)>
                            "Launch new instance"
                        </button>
                    </Show>
                </div>
            </div>
            <div class="filters">
                <label class="check">
                    <input type="checkbox" name="show_all" bind:checked=show_all />
                    " Show terminated instances too"
                </label>
            </div>
            <ErrorBox error=error />
            {move || {
                started
                    .get()
                    .map(|t| {
                        view! {
                            <p class="ok" role="status">
                                {format!("Task {} started: {} ", t.id, t.title)}
                                <A href=format!("/tasks/{}", t.id)>"follow it"</A>
                            </p>
                        }
                    })
            }}
            {move || match instances.get() {
                Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Loaded::Failed(e) => view! { <div class="error" role="alert">{e}</div> }.into_any(),
                Loaded::Ready(l) if l.is_empty() => {
                    view! { <p class="muted">"No instances. Launch one with \"Launch new instance\"."</p> }.into_any()
                }
                Loaded::Ready(_) => {
                    view! {
                        <div class="table-wrap">
                            <table class="data instances">
                                <thead>
                                    <tr>
                                        <th>
                                            <input
                                                type="checkbox"
                                                aria-label="Select all instances"
                                                prop:checked=move || {
                                                    let c = controllable();
                                                    !c.is_empty() && selected.with(|s| *s == c)
                                                }
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    selected.set(if on { controllable() } else { BTreeSet::new() });
                                                }
                                            />
                                        </th>
                                        <th>"ID"</th>
                                        <th>"Provider"</th>
                                        <th>"Type"</th>
                                        <th>"OS"</th>
                                        <th>"Storage"</th>
                                        <th>"Status"</th>
                                        <th>"Created / updated"</th>
                                        <th><span class="sr-only">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    <For
                                        each=list
                                        key=|i| (i.id, i.updated_at, i.status)
                                        children=move |i| {
                                            view! {
                                                <InstanceRow
                                                    instance=i
                                                    rights=rights
                                                    selected=selected
                                                    menu=menu
                                                    dialog=dialog
                                                    run_action=run_action
                                                />
                                            }
                                        }
                                    />
                                </tbody>
                            </table>
                        </div>
                    }
                        .into_any()
                }
            }}
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::Launch => {
                    let launched = Callback::new(move |t: Task| {
                        dialog.set(Dialog::None);
                        started.set(Some(t));
                        reload();
                    });
                    view! { <LaunchDialog on_close=close on_launched=launched /> }.into_any()
                }
                Dialog::Security(id) => view! { <SecurityDialog kind=ObjectKind::Instance id=id on_close=close /> }.into_any(),
                Dialog::Transfer(target, way) => view! { <TransferDialog target=target way=way on_close=close /> }.into_any(),
                Dialog::Terminate(list) => {
                    let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
                    let names = list.iter().map(|i| i.name.clone()).collect::<Vec<_>>().join(", ");
                    let done = Callback::new(move |_| {
                        dialog.set(Dialog::None);
                        selected.set(BTreeSet::new());
                    });
                    view! {
                        <Confirm
                            title=format!("Terminate {} instance(s)", ids.len())
                            text=format!(
                                "Terminate {names}? A terminated instance is destroyed for good: it cannot be started again.",
                            )
                            confirm="Terminate"
                            on_close=close
                            on_done=done
                            action=move |c: Client| {
                                let ids = ids.clone();
                                async move {
                                    if let [id] = ids[..] {
                                        c.instance_action(id, InstanceAction::Terminate).await
                                    } else {
                                        c.batch_action(&ids, InstanceAction::Terminate).await
                                    }
                                }
                            }
                        />
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn InstanceRow(
    instance: Instance,
    rights: RwSignal<Rights>,
    selected: RwSignal<BTreeSet<i64>>,
    menu: RwSignal<Option<i64>>,
    dialog: RwSignal<Dialog>,
    run_action: Callback<(Vec<i64>, InstanceAction)>,
) -> impl IntoView {
    let auth = use_auth();
    let i = instance;
    let id = i.id;
    let status = i.status;
    let may = move |r: ObjectRight| rights.with(|x| x.may(id, r));
    let owns = move || auth.is_admin() || rights.with(|x| x.owned_by(id, auth.user_id()));
    let has_encrypted = i.volumes.iter().any(|v| v.encrypted);
    let web = i.public_ip.clone().or_else(|| i.ssh_host.clone());
    let me = StoredValue::new(i.clone());
    let action_item = move |a: InstanceAction| {
        let allowed = action_allowed(a, status) && (a != InstanceAction::MountStorage || has_encrypted);
        view! {
            <Show when=move || may(ObjectRight::Control)>
                <button
                    type="button"
                    role="menuitem"
                    disabled=!allowed
                    on:click=move |_| {
                        if a == InstanceAction::Terminate {
                            dialog.set(Dialog::Terminate(vec![me.get_value()]));
                        } else {
                            run_action.run((vec![id], a));
                        }
                    }
                >
                    {action_text(a)}
                </button>
            </Show>
        }
    };
    // Upload / download data (7.3.6): with the right, on a running instance.
    let transfer_item = move |way: Way| {
        let (right, label) = match way {
            Way::Upload => (ObjectRight::UploadData, "Upload data"),
            Way::Download => (ObjectRight::DownloadData, "Download data"),
        };
        let target = Target::Instance { id, name: me.with_value(|i| i.name.clone()) };
        view! {
            <Show when=move || may(right)>
                <button
                    type="button"
                    role="menuitem"
                    disabled=status != InstanceStatus::Running
                    on:click={
                        let target = target.clone();
                        move |_| dialog.set(Dialog::Transfer(target.clone(), way))
                    }
                >
                    {label}
                </button>
            </Show>
        }
    };
    let cloud_sub = i.cloud_id.clone().unwrap_or_default();
    let storage_label = storage_text(&i);
    let addresses = [
        ("Public IP", i.public_ip.clone()),
        ("Private IP", i.private_ip.clone()),
        ("SSH", i.ssh_host.clone().map(|h| format!("{h}:{}", i.ssh_port.unwrap_or(22)))),
        ("Zone", i.availability_zone.clone()),
    ];
    view! {
        <tr data-instance=i.name.clone() data-status=status.as_str() class=status_class(status)>
            <td>
                <input
                    type="checkbox"
                    aria-label=format!("Select {}", i.name)
                    disabled=move || !may(ObjectRight::Control)
                    prop:checked=move || selected.with(|s| s.contains(&id))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        selected.update(|s| {
                            if on {
                                s.insert(id);
                            } else {
                                s.remove(&id);
                            }
                        });
                    }
                />
            </td>
            <td>
                <Info label=i.name.clone()>
                    <dl class="facts">
                        <dt>"Cloud id"</dt>
                        <dd><code>{i.cloud_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
                        <dt>"Description"</dt>
                        <dd>{if i.description.is_empty() { "—".to_string() } else { i.description.clone() }}</dd>
                        <dt>"Owner"</dt>
                        <dd>{i.owner_login.clone()}</dd>
                        <dt>"Tags"</dt>
                        <dd>{if i.tags.is_empty() { "—".to_string() } else { i.tags.join(", ") }}</dd>
                        <dt>"Launch"</dt>
                        <dd>{format!("{} of {}", i.launch_index, i.launch_count)}</dd>
                        {i.swarm.clone().map(|s| view! { <dt>"Swarm"</dt><dd>{s}</dd> })}
                        {addresses
                            .into_iter()
                            .filter_map(|(k, v)| v.map(|v| view! { <dt>{k}</dt><dd><code>{v}</code></dd> }))
                            .collect_view()}
                        <dt>"Security groups"</dt>
                        <dd>{i.security_groups.join(", ")}</dd>
                        {i.expires_at.map(|t| view! { <dt>"Powered off at"</dt><dd>{fmt_time(&t)}</dd> })}
                    </dl>
                </Info>
                <span class="sub id-sub">{cloud_sub}</span>
            </td>
            <td data-label="Provider">
                <Info label=i.provider_name.clone()>
                    <dl class="facts">
                        <dt>"Region"</dt>
                        <dd>{i.region.clone()}</dd>
                        <dt>"Instance type"</dt>
                        <dd>{i.instance_type.clone()}</dd>
                    </dl>
                </Info>
            </td>
            <td data-label="Type"><span class=format!("kind kind-{}", i.provider_kind.as_str())>{kind_text(i.provider_kind)}</span></td>
            <td data-label="OS">
                <Info label=i.os_type.map(os_name).unwrap_or("—").to_string()>
                    <dl class="facts">
                        <dt>"Image"</dt>
                        <dd>{i.image_name.clone()}</dd>
                        <dt>"Login user"</dt>
                        <dd>{i.login_user.clone()}</dd>
                    </dl>
                </Info>
            </td>
            <td data-label="Storage">
                {if i.volumes.is_empty() {
                    view! { <span>"—"</span> }.into_any()
                } else {
                    view! {
                        <Info label=storage_label>
                            <ul class="plain">
                                {i.volumes
                                    .iter()
                                    .map(|v| {
                                        view! {
                                            <li>
                                                {format!(
                                                    "{} GB{} on {} at {}",
                                                    v.size_gb,
                                                    if v.encrypted { ", encrypted" } else { "" },
                                                    v.device.clone().unwrap_or_else(|| "—".into()),
                                                    v.mount_point.clone().unwrap_or_else(|| "—".into()),
                                                )}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        </Info>
                    }
                        .into_any()
                }}
            </td>
            <td data-label="Status">
                <Info label=status_text(status).to_string() class=format!("badge status-{}", status.as_str())>
                    <p>{if i.status_message.is_empty() { "No message.".to_string() } else { i.status_message.clone() }}</p>
                    {i.cloud_state.clone().map(|s| view! { <p class="sub">{format!("The cloud says: {s}")}</p> })}
                    {i.launch_task_id.map(|t| view! { <A href=format!("/tasks/{t}")>"Launch task"</A> })}
                </Info>
            </td>
            <td class="sub" data-label="Created / updated">{fmt_time(&i.created_at)} <br /> {fmt_time(&i.updated_at)}</td>
            <td class="actions">
                <RowMenu menu=menu id=id label=format!("Actions of {}", i.name)>
                    <Show when=move || may(ObjectRight::SshConsole)>
                        {if status == InstanceStatus::Running {
                            view! { <A href=format!("/instances/{id}/console") attr:role="menuitem">"SSH console"</A> }
                                .into_any()
                        } else {
                            view! { <button type="button" role="menuitem" disabled=true>"SSH console"</button> }
                                .into_any()
                        }}
                    </Show>
                    {web
                        .clone()
                        .filter(|_| status == InstanceStatus::Running)
                        .map(|host| {
                            view! {
                                <a href=format!("https://{host}/") target="_blank" rel="noopener" role="menuitem">"Web https"</a>
                                <a href=format!("http://{host}/") target="_blank" rel="noopener" role="menuitem">"Web http"</a>
                            }
                        })}
                    {transfer_item(Way::Upload)}
                    {transfer_item(Way::Download)}
                    {action_item(InstanceAction::MountStorage)}
                    {action_item(InstanceAction::PowerOff)}
                    {action_item(InstanceAction::PowerOn)}
                    {action_item(InstanceAction::Reboot)}
                    {action_item(InstanceAction::RetrySetup)}
                    {action_item(InstanceAction::Terminate)}
                    <Show when=owns>{menu_item(dialog, "Edit security", false, move || Dialog::Security(id))}</Show>
                </RowMenu>
            </td>
        </tr>
    }
}
