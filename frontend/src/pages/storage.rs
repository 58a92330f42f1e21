//! Storage (manual 7.4): the volumes with their extra-info pop-overs and actions (7.4.1): edit,
//! attach, detach, delete, "Edit security"; "New volume" where the user may create volumes.

use leptos::prelude::*;
use wintermute_api::client::Client;
use wintermute_api::instances::{
    AttachVolume, Instance, InstanceStatus, NewVolume, Volume, VolumePatch, VolumeStatus, VolumeType,
};
use wintermute_api::providers::Provider;
use wintermute_api::rights::{ObjectKind, ObjectRight};

use crate::api::{act, load_into, use_auth, Loaded};
use crate::events::use_live;
use crate::pages::launch::{volume_type_field, volume_type_name};
use crate::pages::security::SecurityDialog;
use crate::pages::transfer::{Target, TransferDialog, Way};
use crate::rights::{load_rights, Rights};
use crate::ui::{fmt_time, menu_item, Confirm, DialogButtons, Info, ListTable, Modal, ProviderRegion, RowMenu};

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    New,
    Edit(Volume),
    Attach(Volume),
    Detach(Volume),
    Delete(Volume),
    Security(i64),
    Transfer(Target, Way),
}

/// A volume as the place data moves to or from (through the instance it is attached to).
fn volume_target(v: &Volume) -> Target {
    Target::Volume { id: v.id, name: v.name.clone(), mount_point: v.mount_point.clone() }
}

fn status_class(s: VolumeStatus) -> &'static str {
    match s {
        VolumeStatus::InUse => "row-ready",
        VolumeStatus::Creating | VolumeStatus::Deleting | VolumeStatus::Error => "row-busy",
        VolumeStatus::Available | VolumeStatus::Deleted => "row-idle",
    }
}

#[component]
pub fn Storage() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let volumes = RwSignal::new(Loaded::<Vec<Volume>>::Loading);
    let rights = RwSignal::new(Rights::default());
    let provider_rights = RwSignal::new(Rights::default());
    let dialog = RwSignal::new(Dialog::None);
    let menu = RwSignal::new(None::<i64>);
    let reload = move || {
        load_into(auth, volumes, |c| async move { c.volumes(false).await });
        load_rights(auth, ObjectKind::Volume, rights, provider_rights);
    };
    Effect::new(move |_| {
        live.resources.track();
        live.generation.track();
        reload();
    });
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let done = Callback::new(move |_| {
        dialog.set(Dialog::None);
        reload();
    });
    let may = move |id: i64, r: ObjectRight| rights.with(|x| x.may(id, r));
    let owns = move |id: i64| auth.is_admin() || rights.with(|x| x.owned_by(id, auth.user_id()));
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Storage"</h1>
                <Show when=move || provider_rights.with(|r| r.any(ObjectRight::CreateVolume))>
                    <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::New)>"New volume"</button>
                </Show>
            </div>
            <ListTable
                list=volumes
                headers=&["ID", "Type", "Size", "Attached", "Device", "File system", "Encryption", "Created / updated", ""]
                empty="No volumes."
                row=move |v: Volume| {
                    let id = v.id;
                    let sv = StoredValue::new(v.clone());
                    let attached = v.instance_id.is_some();
                    view! {
                        <tr data-volume=v.name.clone() class=status_class(v.status)>
                            <td>
                                <Info label=v.name.clone()>
                                    <dl class="facts">
                                        <dt>"Cloud id"</dt>
                                        <dd><code>{v.cloud_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
                                        <dt>"Owner"</dt>
                                        <dd>{v.owner_login.clone()}</dd>
                                        <dt>"Status"</dt>
                                        <dd>{format!("{} {}", v.status.as_str(), v.status_message)}</dd>
                                    </dl>
                                </Info>
                            </td>
                            <td>
                                <Info label=volume_type_name(v.volume_type).to_string()>
                                    <dl class="facts">
                                        <dt>"Provider"</dt>
                                        <dd>{v.provider_name.clone()}</dd>
                                        <dt>"Region"</dt>
                                        <dd>{v.region.clone()}</dd>
                                        <dt>"Zone"</dt>
                                        <dd>{v.availability_zone.clone().unwrap_or_else(|| "—".into())}</dd>
                                        {v.iops.map(|i| view! { <dt>"IOPS"</dt><dd>{i}</dd> })}
                                    </dl>
                                </Info>
                            </td>
                            <td>{format!("{} GB", v.size_gb)}</td>
                            <td>{v.instance_name.clone().unwrap_or_else(|| "—".into())}</td>
                            <td><code>{v.device.clone().unwrap_or_default()}</code></td>
                            <td><code>{v.mount_point.clone().unwrap_or_default()}</code></td>
                            <td>
                                {if v.encrypted {
                                    view! {
                                        <Info label="🔒 encrypted">
                                            <p>"LUKS; the key stays on the core and reaches the instance only through SSH."</p>
                                        </Info>
                                    }
                                        .into_any()
                                } else {
                                    view! { <span class="muted">"none"</span> }.into_any()
                                }}
                            </td>
                            <td class="sub">{fmt_time(&v.created_at)} <br /> {fmt_time(&v.updated_at)}</td>
                            <td class="actions">
                                <RowMenu menu=menu id=id label=format!("Actions of {}", v.name)>
                                    <Show when=move || may(id, ObjectRight::Change)>
                                        {menu_item(dialog, "Edit", false, move || Dialog::Edit(sv.get_value()))}
                                    </Show>
                                    <Show when=move || may(id, ObjectRight::Control)>
                                        {menu_item(dialog, "Attach", attached, move || Dialog::Attach(sv.get_value()))}
                                        {menu_item(dialog, "Detach", !attached, move || Dialog::Detach(sv.get_value()))}
                                        {menu_item(dialog, "Delete", attached, move || Dialog::Delete(sv.get_value()))}
                                    </Show>
                                    <Show when=move || may(id, ObjectRight::UploadData)>
                                        {menu_item(dialog, "Upload data", !attached, move || {
                                            Dialog::Transfer(volume_target(&sv.get_value()), Way::Upload)
                                        })}
                                    </Show>
                                    <Show when=move || may(id, ObjectRight::DownloadData)>
                                        {menu_item(dialog, "Download data", !attached, move || {
                                            Dialog::Transfer(volume_target(&sv.get_value()), Way::Download)
                                        })}
                                    </Show>
                                    <Show when=move || owns(id)>
                                        {menu_item(dialog, "Edit security", false, move || Dialog::Security(id))}
                                    </Show>
                                </RowMenu>
                            </td>
                        </tr>
                    }
                }
            />
            {move || match dialog.get() {
                Dialog::None => ().into_any(),
                Dialog::New => view! { <NewVolumeDialog provider_rights=provider_rights on_close=close on_done=done /> }.into_any(),
                Dialog::Edit(v) => view! { <EditVolumeDialog volume=v on_close=close on_done=done /> }.into_any(),
                Dialog::Attach(v) => view! { <AttachDialog volume=v on_close=close on_done=done /> }.into_any(),
                Dialog::Detach(v) => {
                    let id = v.id;
                    view! {
                        <Confirm
                            title=format!("Detach volume {}", v.name)
                            text=format!(
                                "Detach {} from {}? It is unmounted first; programs using it there lose it.",
                                v.name,
                                v.instance_name.clone().unwrap_or_default(),
                            )
                            confirm="Detach"
                            on_close=close
                            on_done=done
                            action=move |c: Client| async move { c.detach_volume(id).await }
                        />
                    }
                        .into_any()
                }
                Dialog::Delete(v) => {
                    let id = v.id;
                    view! {
                        <Confirm
                            title=format!("Delete volume {}", v.name)
                            text=format!("Delete {} and its data for good?", v.name)
                            confirm="Delete"
                            on_close=close
                            on_done=done
                            action=move |c: Client| async move { c.delete_volume(id).await }
                        />
                    }
                        .into_any()
                }
                Dialog::Security(id) => view! { <SecurityDialog kind=ObjectKind::Volume id=id on_close=close /> }.into_any(),
                Dialog::Transfer(target, way) => view! { <TransferDialog target=target way=way on_close=close /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn NewVolumeDialog(provider_rights: RwSignal<Rights>, on_close: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let providers = RwSignal::new(Loaded::<Vec<Provider>>::Loading);
    load_into(auth, providers, |c| async move { c.providers().await });
    let usable = move || -> Vec<Provider> {
        let r = provider_rights.get();
        providers.with(|p| {
            p.ready()
                .map(|l| l.iter().filter(|p| r.may(p.id, ObjectRight::CreateVolume)).cloned().collect())
                .unwrap_or_default()
        })
    };
    let provider_id = RwSignal::new(0i64);
    let region = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let size = RwSignal::new("10".to_string());
    let vtype = RwSignal::new(VolumeType::GeneralPurpose);
    let encrypted = RwSignal::new(true);
    let mount_point = RwSignal::new(wintermute_api::instances::DEFAULT_MOUNT_POINT.to_string());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = NewVolume {
            provider_id: provider_id.get_untracked(),
            region: region.get_untracked(),
            availability_zone: None,
            name: name.get_untracked(),
            size_gb: size.get_untracked().trim().parse().unwrap_or(0),
            volume_type: vtype.get_untracked(),
            iops: None,
            encrypted: encrypted.get_untracked(),
            mount_point: Some(mount_point.get_untracked()).filter(|m| !m.is_empty()),
        };
        act(auth, busy, error, move |c: Client| async move { c.create_volume(&req).await }, move |_| on_done.run(()));
    };
    view! {
        <Modal title="New volume" on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <div class="row2">
                    <ProviderRegion providers=Signal::derive(usable) provider_id=provider_id region=region />
                </div>
                <label>"Name" <input type="text" name="name" required bind:value=name /></label>
                <div class="row2">
                    <label>"GB" <input type="number" name="size_gb" min="1" bind:value=size /></label>
                    {volume_type_field(vtype)}
                </div>
                <label>"Mount point" <input type="text" name="mount_point" bind:value=mount_point /></label>
                <label class="check">
                    <input type="checkbox" name="encrypted" bind:checked=encrypted />
                    " Encrypted (highly recommended)"
                </label>
                <DialogButtons error=error busy=busy on_close=on_close submit="Create" />
            </form>
        </Modal>
    }
}

#[component]
fn EditVolumeDialog(volume: Volume, on_close: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let name = RwSignal::new(volume.name.clone());
    let mount_point = RwSignal::new(volume.mount_point.clone().unwrap_or_default());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = volume.id;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let p = VolumePatch { name: Some(name.get_untracked()), mount_point: Some(mount_point.get_untracked()) };
        act(auth, busy, error, move |c: Client| async move { c.update_volume(id, &p).await }, move |_| on_done.run(()));
    };
    view! {
        <Modal title=format!("Edit volume {}", volume.name) on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <label>"Name" <input type="text" name="name" required bind:value=name /></label>
                <label>"Mount point" <input type="text" name="mount_point" bind:value=mount_point /></label>
                <DialogButtons error=error busy=busy on_close=on_close submit="Save" />
            </form>
        </Modal>
    }
}

#[component]
fn AttachDialog(volume: Volume, on_close: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let auth = use_auth();
    let instances = RwSignal::new(Loaded::<Vec<Instance>>::Loading);
    let (provider, region) = (volume.provider_id, volume.region.clone());
    load_into(auth, instances, move |c: Client| async move {
        Ok(c.instances(false)
            .await?
            .into_iter()
            .filter(|i| {
                i.provider_id == provider
                    && i.region == region
                    && matches!(i.status, InstanceStatus::Running | InstanceStatus::Stopped)
            })
            .collect())
    });
    let instance_id = RwSignal::new(0i64);
    let device = RwSignal::new(wintermute_api::instances::DEFAULT_DEVICE.to_string());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = volume.id;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = AttachVolume { instance_id: instance_id.get_untracked(), device: Some(device.get_untracked()) };
        act(
            auth,
            busy,
            error,
            move |c: Client| async move { c.attach_volume(id, &req).await },
            move |_| on_done.run(()),
        );
    };
    view! {
        <Modal title=format!("Attach volume {}", volume.name) on_close=on_close>
            <form class="modal-body stack" on:submit=submit>
                <label>
                    "Instance"
                    <select name="instance" on:change=move |ev| instance_id.set(event_target_value(&ev).parse().unwrap_or(0))>
                        <option value="0">"— choose —"</option>
                        {move || {
                            instances
                                .get()
                                .ready()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .map(|i| view! { <option value=i.id.to_string()>{format!("{} ({})", i.name, i.status.as_str())}</option> })
                                .collect_view()
                        }}
                    </select>
                    <span class="hint">"Running or stopped instances of the volume's region."</span>
                </label>
                <label>"Device" <input type="text" name="device" bind:value=device /></label>
                <DialogButtons error=error busy=busy on_close=on_close submit="Attach" blocked=Signal::derive(move || instance_id.get() == 0) />
            </form>
        </Modal>
    }
}
