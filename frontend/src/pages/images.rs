//! Instance images (manual 6.4): the list, "Import image" with the registry search, "Edit"
//! (name, OS type, description, login user, enabled) and "Edit security".

use leptos::prelude::*;
use wintermute_api::providers::{Image, ImageCandidate, ImagePatch, ImportImage, OsType, Provider};
use wintermute_api::rights::{ObjectKind, ObjectRight};

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::security::SecurityDialog;
use crate::rights::{load_rights, Rights};
use crate::ui::{open_button, yes_no, Confirm, DialogButtons, ErrorBox, ListTable, Modal, ProviderRegion};
use wintermute_api::client::Client;

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    Import,
    Edit(Image),
    Security(i64),
    Delete(Image),
}

pub fn os_name(o: OsType) -> &'static str {
    match o {
        OsType::Debian => "Debian",
        OsType::Ubuntu => "Ubuntu",
        OsType::Fedora => "Fedora",
        OsType::Centos => "CentOS",
        OsType::Rhel => "RHEL",
        OsType::Sles => "SLES",
    }
}

#[component]
pub fn Images() -> impl IntoView {
    let auth = use_auth();
    let images = RwSignal::new(Loaded::<Vec<Image>>::Loading);
    let image_rights = RwSignal::new(Rights::default());
    let provider_rights = RwSignal::new(Rights::default());
    let dialog = RwSignal::new(Dialog::None);
    let reload = move || {
        load_into(auth, images, |c| async move { c.images().await });
        load_rights(auth, ObjectKind::Image, image_rights, provider_rights);
    };
    reload();
    let close = Callback::new(move |_| {
        dialog.set(Dialog::None);
        reload();
    });
    let changed = Callback::new(move |_| reload());
    let may_import = move || provider_rights.with(|r| r.any(ObjectRight::ImportImages));
    let may = move |id: i64, right: ObjectRight| image_rights.with(|r| r.may(id, right));
    let owns = move |id: i64| auth.is_admin() || image_rights.with(|r| r.owned_by(id, auth.user_id()));
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Images"</h1>
                <Show when=may_import>
                    <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::Import)>
                        "Import image"
                    </button>
                </Show>
            </div>
            <ListTable
                list=images
                headers=&["Name", "Description", "OS", "Provider", "Region", "Image id", "Login user", "Enabled", ""]
                empty="No images yet."
                row=move |i: Image| {
                    let id = i.id;
                    view! {
                        <tr data-image=i.cloud_id.clone() class:disabled-row=!i.enabled>
                            <td><strong>{i.name.clone()}</strong></td>
                            <td>{i.description.clone()}</td>
                            <td>{i.os_type.map(os_name).unwrap_or("—")}</td>
                            <td>{i.provider_name.clone()}</td>
                            <td>{i.region.clone()}</td>
                            <td><code>{i.cloud_id.clone()}</code></td>
                            <td>{if i.login_user.is_empty() { "default".to_string() } else { i.login_user.clone() }}</td>
                            <td>{yes_no(i.enabled)}</td>
                            <td class="actions">
                                {may(id, ObjectRight::Change).then(|| open_button(dialog, Dialog::Edit(i.clone()), "Edit", false))}
                                {owns(id).then(|| open_button(dialog, Dialog::Security(id), "Edit security", false))}
                                {may(id, ObjectRight::Change).then(|| open_button(dialog, Dialog::Delete(i.clone()), "Delete", true))}
                            </td>
                        </tr>
                    }
                }
            />
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::Import => view! { <ImportDialog provider_rights=provider_rights on_close=close on_imported=changed /> }.into_any(),
                Dialog::Edit(i) => view! { <EditImageDialog image=i on_close=close /> }.into_any(),
                Dialog::Security(id) => view! { <SecurityDialog kind=ObjectKind::Image id=id on_close=close /> }.into_any(),
                Dialog::Delete(i) => view! { <DeleteImageDialog image=i on_close=close /> }.into_any(),
            }}
        </section>
    }
}

/// "Import Image": choose the provider and region, search its registry, import what is chosen.
#[component]
fn ImportDialog(
    provider_rights: RwSignal<Rights>,
    on_close: Callback<()>,
    /// The list behind the dialog reloads after each import.
    on_imported: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    let providers = RwSignal::new(Loaded::<Vec<Provider>>::Loading);
    load_into(auth, providers, |c| async move { c.providers().await });
    let importable = move || -> Vec<Provider> {
        let rights = provider_rights.get();
        providers.with(|p| {
            p.ready()
                .map(|list| list.iter().filter(|p| rights.may(p.id, ObjectRight::ImportImages)).cloned().collect())
                .unwrap_or_default()
        })
    };
    let provider_id = RwSignal::new(0i64);
    let region = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let found = RwSignal::new(None::<Vec<ImageCandidate>>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let imported = RwSignal::new(Vec::<String>::new());
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (pid, r, q) = (provider_id.get_untracked(), region.get_untracked(), query.get_untracked());
        act(
            auth,
            busy,
            error,
            move |c| async move { c.search_images(pid, &r, &q).await },
            move |list| found.set(Some(list)),
        );
    };
    let import = move |cloud_id: String| {
        let req = ImportImage { provider_id: provider_id.get_untracked(), region: region.get_untracked(), cloud_id };
        act(
            auth,
            busy,
            error,
            move |c| async move { c.import_image(&req).await },
            move |img| {
                imported.update(|i| i.push(img.cloud_id));
                on_imported.run(());
            },
        );
    };
    view! {
        <Modal title="Import image" on_close=on_close wide=true>
            <form class="modal-body stack" on:submit=search>
                <div class="row3">
                    <ProviderRegion
                        providers=Signal::derive(importable)
                        provider_id=provider_id
                        region=region
                        on_change=Callback::new(move |_| found.set(None))
                    />
                    <label>
                        "Search"
                        <input type="search" name="q" placeholder="image_id:ami-0123… or part of the name" bind:value=query />
                    </label>
                </div>
                <p class="hint">
                    "Search by id (" <code>"image_id:ID"</code>
                    ", several separated by commas) rather than by name: only import images from sources you trust."
                </p>
                <div class="buttons">
                    <button type="submit" class="primary" disabled=move || busy.get() || provider_id.get() == 0>
                        "Refresh"
                    </button>
                </div>
                <ErrorBox error=error />
                {move || {
                    found
                        .get()
                        .map(|list| {
                            if list.is_empty() {
                                view! { <p class="muted">"Nothing found."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap">
                                        <table class="data">
                                            <thead>
                                                <tr>
                                                    <th>"Image id"</th>
                                                    <th>"Name"</th>
                                                    <th>"Owner"</th>
                                                    <th>"Arch"</th>
                                                    <th>"Created"</th>
                                                    <th><span class="sr-only">"Import"</span></th>
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {list
                                                    .into_iter()
                                                    .map(|c| {
                                                        let id = c.cloud_id.clone();
                                                        let id2 = c.cloud_id.clone();
                                                        let already = c.imported;
                                                        view! {
                                                            <tr>
                                                                <td data-label="Image id"><code>{c.cloud_id.clone()}</code></td>
                                                                <td data-label="Name">
                                                                    {c.name.clone()}
                                                                    <div class="sub">{c.description.clone()}</div>
                                                                </td>
                                                                <td data-label="Owner">{c.owner_id.clone()}</td>
                                                                <td data-label="Arch">{c.architecture.clone()}</td>
                                                                <td data-label="Created">{created_text(&c.creation_date)}</td>
                                                                <td class="actions">
                                                                    {move || {
                                                                        if already || imported.with(|i| i.contains(&id)) {
                                                                            view! { <span class="badge state-succeeded">"imported"</span> }.into_any()
                                                                        } else {
                                                                            let id = id2.clone();
                                                                            view! {
                                                                                <button
                                                                                    type="button"
                                                                                    class="small"
                                                                                    disabled=move || busy.get()
                                                                                    on:click=move |_| import(id.clone())
                                                                                >
                                                                                    "Import image"
                                                                                </button>
                                                                            }
                                                                                .into_any()
                                                                        }
                                                                    }}
                                                                </td>
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
                        })
                }}
                <p class="hint">"Imported images stay disabled until edited and enabled."</p>
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                </div>
            </form>
        </Modal>
    }
}

/// A registry's creation date in local time when it is RFC 3339, else as given.
fn created_text(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => crate::ui::fmt_time(&t.with_timezone(&chrono::Utc)),
        Err(_) => s.to_owned(),
    }
}

/// "Actions → Edit" on an image (manual 6.4.4).
#[component]
fn EditImageDialog(image: Image, on_close: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let name = RwSignal::new(image.name.clone());
    let os = RwSignal::new(image.os_type.map(|o| o.as_str().to_string()).unwrap_or_default());
    let description = RwSignal::new(image.description.clone());
    let login_user = RwSignal::new(image.login_user.clone());
    let enabled = RwSignal::new(image.enabled);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = image.id;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let p = ImagePatch {
            name: Some(name.get_untracked()),
            os_type: OsType::parse(&os.get_untracked()),
            description: Some(description.get_untracked()),
            login_user: Some(login_user.get_untracked()),
            enabled: Some(enabled.get_untracked()),
        };
        act(auth, busy, error, move |c| async move { c.update_image(id, &p).await }, move |_| on_close.run(()));
    };
    let default_user = move || OsType::parse(&os.get()).map(|o| o.default_login_user()).unwrap_or("ec2-user");
    view! {
        <Modal title=format!("Edit image {}", image.cloud_id) on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <label>"Name" <input type="text" name="name" required bind:value=name /></label>
                <label>
                    "Type (operating system)"
                    <select name="os_type" on:change=move |ev| os.set(event_target_value(&ev))>
                        <option value="" selected=move || os.get().is_empty()>"— choose —"</option>
                        {OsType::ALL
                            .into_iter()
                            .map(|o| {
                                view! {
                                    <option value=o.as_str() selected=move || os.get() == o.as_str()>{os_name(o)}</option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <span class="hint">"A wrong type makes the image unusable."</span>
                </label>
                <label>
                    "Description"
                    <input type="text" name="description" placeholder="e.g. Debian 12, shown when launching" bind:value=description />
                </label>
                <label>
                    "User"
                    <input type="text" name="login_user" placeholder=default_user bind:value=login_user />
                    <span class="hint">"Only for non-standard images: the admin user the SSH key is installed for."</span>
                </label>
                <label class="check">
                    <input type="checkbox" name="enabled" bind:checked=enabled />
                    " Enabled (users can launch it)"
                </label>
                <DialogButtons error=error busy=busy on_close=on_close submit="Save" />
            </form>
        </Modal>
    }
}

#[component]
fn DeleteImageDialog(image: Image, on_close: Callback<()>) -> impl IntoView {
    let id = image.id;
    view! {
        <Confirm
            title=format!("Remove image {}", image.name)
            text="The image leaves the core's list; it stays at the provider."
            confirm="Remove"
            on_close=on_close
            on_done=on_close
            action=move |c: Client| async move { c.delete_image(id).await }
        />
    }
}
