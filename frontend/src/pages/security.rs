//! The "Security" menu's tabs, and the "Edit security" dialog every object has (providers 6.3.3,
//! images 6.4.4, ...): which group may do what with it.

use leptos::prelude::*;
use leptos_router::components::A;
use wintermute_api::rights::{ObjectKind, ObjectRight, ObjectSecurity, RightSet};
use wintermute_api::users::Group;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::ui::{ErrorBox, Modal};

#[component]
pub fn SecurityTabs() -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Security">
            <A href="/security/users">"Users"</A>
            <A href="/security/groups">"Groups"</A>
        </nav>
    }
}

/// The manual's words for a right on an object of `kind`.
pub fn right_text(kind: ObjectKind, r: ObjectRight) -> &'static str {
    match (kind, r) {
        (ObjectKind::Provider, ObjectRight::View) => "View provider configuration",
        (ObjectKind::Image, ObjectRight::View) => "View image",
        (ObjectKind::Image, ObjectRight::Change) => "Change image",
        (ObjectKind::Uds, ObjectRight::View) => "View UDS",
        (ObjectKind::Uds, ObjectRight::Change) => "Change UDS",
        (ObjectKind::Instance, ObjectRight::View) => "View instance",
        (ObjectKind::Instance, ObjectRight::Change) => "Change instance",
        (ObjectKind::Instance, ObjectRight::Control) => "Control instance",
        (ObjectKind::Volume, ObjectRight::View) => "View volume",
        (ObjectKind::Volume, ObjectRight::Change) => "Change volume",
        (ObjectKind::Volume, ObjectRight::Control) => "Control volume",
        (_, ObjectRight::View) => "View",
        (_, ObjectRight::Change) => "Change",
        (_, ObjectRight::Control) => "Control",
        (_, ObjectRight::SshConsole) => "SSH console",
        (_, ObjectRight::UploadData) => "Upload data",
        (_, ObjectRight::DownloadData) => "Download data",
        (_, ObjectRight::CreateInstances) => "Create instances",
        (_, ObjectRight::CreateInstanceFromTemplate) => "Create instance from template",
        (_, ObjectRight::CreateInstanceTemplate) => "Create instance template",
        (_, ObjectRight::CreateVolume) => "Create volume",
        (_, ObjectRight::ImportImages) => "Import images",
        (_, ObjectRight::ImportVolumes) => "Import volumes",
    }
}

/// A grid of groups × rights on one object; saving sends each changed group's full set.
#[component]
pub fn SecurityDialog(kind: ObjectKind, id: i64, on_close: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let security = RwSignal::new(Loaded::<ObjectSecurity>::Loading);
    let groups = RwSignal::new(Loaded::<Vec<Group>>::Loading);
    // (group, right) pairs ticked now.
    let ticked = RwSignal::new(Vec::<(i64, ObjectRight)>::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    load_into(auth, security, move |c| async move { c.object_security(kind, id).await });
    load_into(auth, groups, |c| async move { c.groups().await });
    Effect::new(move |_| {
        if let Loaded::Ready(s) = security.get() {
            ticked.set(s.groups.iter().flat_map(|g| g.rights.iter().map(move |r| (g.group_id, *r))).collect());
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let Some(before) = security.with_untracked(|s| s.ready().cloned()) else { return };
        let Some(all_groups) = groups.with_untracked(|g| g.ready().cloned()) else { return };
        let now = ticked.get_untracked();
        let changes: Vec<(i64, RightSet)> = all_groups
            .iter()
            .filter_map(|g| {
                let mut want: Vec<ObjectRight> = now.iter().filter(|(gid, _)| *gid == g.id).map(|(_, r)| *r).collect();
                want.sort();
                let mut had: Vec<ObjectRight> =
                    before.groups.iter().find(|x| x.group_id == g.id).map(|x| x.rights.clone()).unwrap_or_default();
                had.sort();
                (want != had).then_some((g.id, RightSet { rights: want }))
            })
            .collect();
        act(
            auth,
            busy,
            error,
            move |c| async move {
                let mut last = None;
                for (gid, set) in changes {
                    last = Some(c.set_group_rights(kind, id, gid, &set).await?);
                }
                match last {
                    Some(s) => Ok(s),
                    None => c.object_security(kind, id).await,
                }
            },
            move |s| {
                security.set(Loaded::Ready(s));
                saved.set(true);
            },
        );
    };
    let title = move || {
        security.with(|s| match s {
            Loaded::Ready(s) => format!("Edit security: {}", s.name),
            _ => "Edit security".into(),
        })
    };
    view! {
        <Modal title=Signal::derive(title) on_close=on_close wide=true>
            <form class="modal-body stack" on:submit=save>
                {move || match (security.get(), groups.get()) {
                    (Loaded::Failed(e), _) | (_, Loaded::Failed(e)) => {
                        view! { <div class="error" role="alert">{e}</div> }.into_any()
                    }
                    (Loaded::Ready(s), Loaded::Ready(gs)) => {
                        if gs.is_empty() {
                            view! {
                                <p class="muted">"There are no groups yet. Rights are given to groups: create one under Security → Groups."</p>
                            }
                                .into_any()
                        } else {
                            let rights = s.available_rights.clone();
                            view! {
                                <p class="hint">
                                    {format!(
                                        "Owner: {}. Owners and administrators may do everything; groups get what is ticked.",
                                        s.owner.login,
                                    )}
                                </p>
                                <div class="table-wrap">
                                    <table class="data grid-table">
                                        <thead>
                                            <tr>
                                                <th>"Group"</th>
                                                {rights
                                                    .iter()
                                                    .map(|r| view! { <th scope="col">{right_text(kind, *r)}</th> })
                                                    .collect_view()}
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {gs
                                                .into_iter()
                                                .map(|g| {
                                                    let gid = g.id;
                                                    let gname = g.name.clone();
                                                    view! {
                                                        <tr>
                                                            <th scope="row">{g.name.clone()}</th>
                                                            {rights
                                                                .iter()
                                                                .map(|r| {
                                                                    let r = *r;
                                                                    let label = format!("{}: {}", gname, right_text(kind, r));
                                                                    view! {
                                                                        <td class="center" data-label=right_text(kind, r)>
                                                                            <input
                                                                                type="checkbox"
                                                                                aria-label=label
                                                                                data-group=gname.clone()
                                                                                data-right=r.as_str()
                                                                                prop:checked=move || ticked.with(|t| t.contains(&(gid, r)))
                                                                                on:change=move |ev| {
                                                                                    let on = event_target_checked(&ev);
                                                                                    ticked.update(|t| {
                                                                                        t.retain(|x| *x != (gid, r));
                                                                                        if on {
                                                                                            t.push((gid, r));
                                                                                        }
                                                                                    });
                                                                                }
                                                                            />
                                                                        </td>
                                                                    }
                                                                })
                                                                .collect_view()}
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                    }
                    _ => view! { <p class="loading">"Loading…"</p> }.into_any(),
                }}
                <ErrorBox error=error />
                <Show when=move || saved.get()>
                    <p class="ok" role="status">"Saved."</p>
                </Show>
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                    <button type="submit" class="primary" disabled=move || busy.get()>"Save"</button>
                </div>
            </form>
        </Modal>
    }
}
