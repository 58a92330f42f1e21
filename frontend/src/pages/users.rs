//! Users (manual 6.5.1) and their global permissions (6.5.2, "Edit security").

use leptos::prelude::*;
use wintermute_api::users::{Group, NewUser, Permission, PermissionSet, User, UserPatch};

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::security::SecurityTabs;
use crate::ui::{open_button, yes_no, Confirm, DialogButtons, ListTable, Modal};
use wintermute_api::client::Client;

/// The manual's name and meaning of each permission.
pub fn permission_text(p: Permission) -> (&'static str, &'static str) {
    match p {
        Permission::CreateUser => ("Create user", "Create other user accounts."),
        Permission::ChangeUser => ("Change user", "Modify other users' properties and security, and groups."),
        Permission::CreateUds => ("Create UDS", "Create and share own UDS scripts."),
        Permission::DownloadSshKeys => {
            ("Download SSH keys", "Export one's own private SSH key (bypasses the core: admins only).")
        }
        Permission::ControlTasks => ("Control tasks", "See and cancel everybody's tasks (own ones always)."),
        Permission::ViewLogs => ("View logs", "Read the audit log."),
        Permission::GetServerLogs => ("Get server logs", "Read the core's own server logs."),
    }
}

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    New,
    Edit(User),
    Security(User),
    Delete(User),
}

#[component]
pub fn Users() -> impl IntoView {
    let auth = use_auth();
    let users = RwSignal::new(Loaded::<Vec<User>>::Loading);
    let groups = RwSignal::new(Loaded::<Vec<Group>>::Loading);
    let dialog = RwSignal::new(Dialog::None);
    let reload = move || {
        load_into(auth, users, |c| async move { c.users().await });
        load_into(auth, groups, |c| async move { c.groups().await });
    };
    reload();
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let saved = Callback::new(move |_| {
        dialog.set(Dialog::None);
        reload();
    });
    let group_names = move |ids: &[i64]| -> String {
        groups.with(|g| match g {
            Loaded::Ready(all) => {
                all.iter().filter(|g| ids.contains(&g.id)).map(|g| g.name.clone()).collect::<Vec<_>>().join(", ")
            }
            _ => String::new(),
        })
    };
    let may_change = move || auth.can(Permission::ChangeUser);
    view! {
        <section class="page">
            <SecurityTabs />
            <div class="page-head">
                <h1>"Users"</h1>
                <Show when=move || auth.can(Permission::CreateUser)>
                    <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::New)>
                        "New user"
                    </button>
                </Show>
            </div>
            <ListTable
                list=users
                headers=&["Login", "Name", "Email", "Time zone", "Enabled", "Admin", "Groups", "Permissions", ""]
                row=move |u: User| {
                    let me = u.id == auth.user_id();
                    let admin_target_locked = u.is_admin && !auth.is_admin();
                    view! {
                        <tr data-login=u.login.clone()>
                            <td><strong>{u.login.clone()}</strong></td>
                            <td>{format!("{} {}", u.first_name, u.last_name)}</td>
                            <td>{u.email.clone()}</td>
                            <td>{u.time_zone.clone()}</td>
                            <td>{yes_no(u.enabled)}</td>
                            <td>{yes_no(u.is_admin)}</td>
                            <td>{group_names(&u.groups)}</td>
                            <td class="perms">
                                {if u.is_admin {
                                    "all (administrator)".to_string()
                                } else {
                                    u.permissions.iter().map(|p| permission_text(*p).0).collect::<Vec<_>>().join(", ")
                                }}
                            </td>
                            <td class="actions">
                                {(may_change() && !admin_target_locked).then(|| view! {
                                    {open_button(dialog, Dialog::Edit(u.clone()), "Edit", false)}
                                    {open_button(dialog, Dialog::Security(u.clone()), "Edit security", false)}
                                    {(!me).then(|| open_button(dialog, Dialog::Delete(u.clone()), "Delete", true))}
                                })}
                            </td>
                        </tr>
                    }
                }
            />
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::New => view! { <UserDialog user=None on_close=close on_saved=saved /> }.into_any(),
                Dialog::Edit(u) => view! { <UserDialog user=Some(u) on_close=close on_saved=saved /> }.into_any(),
                Dialog::Security(u) => view! { <PermissionsDialog user=u on_close=close on_saved=saved /> }.into_any(),
                Dialog::Delete(u) => view! { <DeleteUserDialog user=u on_close=close on_saved=saved /> }.into_any(),
            }}
        </section>
    }
}

/// "New user" and "Edit user": the attributes of manual 6.5.1.
#[component]
fn UserDialog(user: Option<User>, on_close: Callback<()>, on_saved: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let editing = user.clone();
    let u = user.clone().unwrap_or_else(blank_user);
    let login = RwSignal::new(u.login.clone());
    let first = RwSignal::new(u.first_name.clone());
    let last = RwSignal::new(u.last_name.clone());
    let email = RwSignal::new(u.email.clone());
    let tz = RwSignal::new(u.time_zone.clone());
    let enabled = RwSignal::new(u.enabled);
    let is_admin = RwSignal::new(u.is_admin);
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let is_new = editing.is_none();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let pw = password.get_untracked();
        let tz_v = tz.get_untracked();
        match &editing {
            None => {
                let req = NewUser {
                    login: login.get_untracked(),
                    password: pw,
                    first_name: first.get_untracked(),
                    last_name: last.get_untracked(),
                    email: email.get_untracked(),
                    time_zone: Some(tz_v).filter(|t| !t.trim().is_empty()),
                    enabled: enabled.get_untracked(),
                    is_admin: is_admin.get_untracked(),
                };
                act(auth, busy, error, move |c| async move { c.create_user(&req).await }, move |_| on_saved.run(()));
            }
            Some(old) => {
                let id = old.id;
                let changed = |new: String, old: &str| Some(new).filter(|n| n != old);
                let p = UserPatch {
                    login: changed(login.get_untracked(), &old.login),
                    password: Some(pw).filter(|p| !p.is_empty()),
                    first_name: changed(first.get_untracked(), &old.first_name),
                    last_name: changed(last.get_untracked(), &old.last_name),
                    email: changed(email.get_untracked(), &old.email),
                    time_zone: changed(tz_v, &old.time_zone),
                    enabled: Some(enabled.get_untracked()).filter(|e| *e != old.enabled),
                    is_admin: Some(is_admin.get_untracked()).filter(|a| *a != old.is_admin),
                };
                act(auth, busy, error, move |c| async move { c.update_user(id, &p).await }, move |_| on_saved.run(()));
            }
        }
    };
    let title = if is_new { "New user".to_string() } else { format!("Edit user {}", u.login) };
    view! {
        <Modal title=title on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <label>
                    "User (login)"
                    <input type="text" name="login" required bind:value=login />
                    <span class="hint">"The same as the login on the core's system, for data transfers."</span>
                </label>
                <div class="row2">
                    <label>"First name" <input type="text" name="first_name" bind:value=first /></label>
                    <label>"Last name" <input type="text" name="last_name" bind:value=last /></label>
                </div>
                <label>"Email" <input type="email" name="email" bind:value=email /></label>
                <label>
                    "Time zone"
                    <input type="text" name="time_zone" placeholder="default of the core, e.g. Europe/Berlin" bind:value=tz />
                </label>
                <label>
                    {if is_new { "Temporary password" } else { "New temporary password (leave empty to keep)" }}
                    <input type="password" name="password" autocomplete="new-password" required=is_new bind:value=password />
                    <span class="hint">"The user must replace it at the next login."</span>
                </label>
                <label class="check">
                    <input type="checkbox" name="enabled" bind:checked=enabled />
                    " Enabled"
                </label>
                <label class="check">
                    <input type="checkbox" name="is_admin" bind:checked=is_admin disabled=move || !auth.is_admin() />
                    " Is administrator"
                </label>
                <DialogButtons error=error busy=busy on_close=on_close submit="Save" />
            </form>
        </Modal>
    }
}

fn blank_user() -> User {
    User {
        id: 0,
        login: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
        time_zone: String::new(),
        enabled: true,
        is_admin: false,
        must_change_password: true,
        permissions: Vec::new(),
        groups: Vec::new(),
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    }
}

/// "Edit security" on a user: the global permissions (manual 6.5.2).
#[component]
fn PermissionsDialog(user: User, on_close: Callback<()>, on_saved: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let chosen = RwSignal::new(user.permissions.clone());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = user.id;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut permissions = chosen.get_untracked();
        permissions.sort();
        let set = PermissionSet { permissions };
        act(auth, busy, error, move |c| async move { c.set_permissions(id, &set).await }, move |_| on_saved.run(()));
    };
    view! {
        <Modal title=format!("Edit security of {}", user.login) on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <Show when=move || user.is_admin>
                    <p class="hint">"An administrator holds every permission whatever is ticked here."</p>
                </Show>
                <fieldset class="checks">
                    <legend>"Permissions"</legend>
                    {Permission::ALL
                        .into_iter()
                        .map(|p| {
                            let (name, what) = permission_text(p);
                            view! {
                                <label class="check perm">
                                    <input
                                        type="checkbox"
                                        name=p.as_str()
                                        prop:checked=move || chosen.with(|c| c.contains(&p))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            chosen.update(|c| {
                                                c.retain(|x| *x != p);
                                                if on {
                                                    c.push(p);
                                                }
                                            });
                                        }
                                    />
                                    <span>
                                        <strong>{name}</strong>
                                        <span class="hint">{what}</span>
                                    </span>
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <DialogButtons error=error busy=busy on_close=on_close submit="Save" />
            </form>
        </Modal>
    }
}

#[component]
fn DeleteUserDialog(user: User, on_close: Callback<()>, on_saved: Callback<()>) -> impl IntoView {
    let id = user.id;
    view! {
        <Confirm
            title=format!("Delete user {}", user.login)
            text=format!("Delete the account {}? Its sessions end at once.", user.login)
            confirm="Delete"
            on_close=on_close
            on_done=on_saved
            action=move |c: Client| async move { c.delete_user(id).await }
        />
    }
}
