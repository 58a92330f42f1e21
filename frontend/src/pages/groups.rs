//! Groups of users: object rights are given to groups.

use leptos::prelude::*;
use wintermute_api::users::{Group, GroupPatch, NewGroup, Permission, User};

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::security::SecurityTabs;
use crate::ui::{open_button, Confirm, DialogButtons, ListTable, Modal};
use wintermute_api::client::Client;

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    New,
    Edit(Group),
    Delete(Group),
}

#[component]
pub fn Groups() -> impl IntoView {
    let auth = use_auth();
    let groups = RwSignal::new(Loaded::<Vec<Group>>::Loading);
    let users = RwSignal::new(Loaded::<Vec<User>>::Loading);
    let dialog = RwSignal::new(Dialog::None);
    let reload = move || {
        load_into(auth, groups, |c| async move { c.groups().await });
        load_into(auth, users, |c| async move { c.users().await });
    };
    reload();
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let saved = Callback::new(move |_| {
        dialog.set(Dialog::None);
        reload();
    });
    let may_manage = move || auth.can(Permission::ChangeUser);
    view! {
        <section class="page">
            <SecurityTabs />
            <div class="page-head">
                <h1>"Groups"</h1>
                <Show when=may_manage>
                    <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::New)>
                        "New group"
                    </button>
                </Show>
            </div>
            <ListTable
                list=groups
                headers=&["Name", "Description", "Members", ""]
                empty="No groups yet."
                row=move |g: Group| {
                    view! {
                        <tr data-group=g.name.clone()>
                            <td><strong>{g.name.clone()}</strong></td>
                            <td>{g.description.clone()}</td>
                            <td>{g.members.iter().map(|m| m.login.clone()).collect::<Vec<_>>().join(", ")}</td>
                            <td class="actions">
                                {may_manage().then(|| view! {
                                    {open_button(dialog, Dialog::Edit(g.clone()), "Edit", false)}
                                    {open_button(dialog, Dialog::Delete(g.clone()), "Delete", true)}
                                })}
                            </td>
                        </tr>
                    }
                }
            />
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::New => view! { <GroupDialog group=None users=users on_close=close on_saved=saved /> }.into_any(),
                Dialog::Edit(g) => {
                    view! { <GroupDialog group=Some(g) users=users on_close=close on_saved=saved /> }.into_any()
                }
                Dialog::Delete(g) => view! { <DeleteGroupDialog group=g on_close=close on_saved=saved /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn GroupDialog(
    group: Option<Group>,
    users: RwSignal<Loaded<Vec<User>>>,
    on_close: Callback<()>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    let name = RwSignal::new(group.as_ref().map(|g| g.name.clone()).unwrap_or_default());
    let description = RwSignal::new(group.as_ref().map(|g| g.description.clone()).unwrap_or_default());
    let members =
        RwSignal::new(group.as_ref().map(|g| g.members.iter().map(|m| m.id).collect::<Vec<_>>()).unwrap_or_default());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let editing = group.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (n, d, mut m) = (name.get_untracked(), description.get_untracked(), members.get_untracked());
        m.sort();
        match &editing {
            None => {
                let req = NewGroup { name: n, description: d, members: m };
                act(auth, busy, error, move |c| async move { c.create_group(&req).await }, move |_| on_saved.run(()));
            }
            Some(g) => {
                let id = g.id;
                let p = GroupPatch { name: Some(n), description: Some(d), members: Some(m) };
                act(auth, busy, error, move |c| async move { c.update_group(id, &p).await }, move |_| on_saved.run(()));
            }
        }
    };
    let title = match &group {
        Some(g) => format!("Edit group {}", g.name),
        None => "New group".into(),
    };
    view! {
        <Modal title=title on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <label>"Name" <input type="text" name="name" required bind:value=name /></label>
                <label>"Description" <input type="text" name="description" bind:value=description /></label>
                <fieldset class="checks members">
                    <legend>"Members"</legend>
                    {move || match users.get() {
                        Loaded::Ready(list) => {
                            list.into_iter()
                                .map(|u| {
                                    let uid = u.id;
                                    view! {
                                        <label class="check">
                                            <input
                                                type="checkbox"
                                                name=format!("member-{}", u.login)
                                                prop:checked=move || members.with(|m| m.contains(&uid))
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    members.update(|m| {
                                                        m.retain(|x| *x != uid);
                                                        if on {
                                                            m.push(uid);
                                                        }
                                                    });
                                                }
                                            />
                                            {format!(" {}", u.login)}
                                        </label>
                                    }
                                })
                                .collect_view()
                                .into_any()
                        }
                        Loaded::Failed(e) => view! { <div class="error">{e}</div> }.into_any(),
                        Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
                    }}
                </fieldset>
                <DialogButtons error=error busy=busy on_close=on_close submit="Save" />
            </form>
        </Modal>
    }
}

#[component]
fn DeleteGroupDialog(group: Group, on_close: Callback<()>, on_saved: Callback<()>) -> impl IntoView {
    let id = group.id;
    view! {
        <Confirm
            title=format!("Delete group {}", group.name)
            text="Its members lose the rights given to the group."
            confirm="Delete"
            on_close=on_close
            on_done=on_saved
            action=move |c: Client| async move { c.delete_group(id).await }
        />
    }
}
