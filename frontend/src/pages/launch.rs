//! The "Create Instance" dialog (manual 7.3.2) with its Instance, Storage, Setup and Summary
//! tabs. It offers only what the user may use: enabled images of providers where they may create
//! instances, the allowed instance types and security groups of the image's region, and the
//! available volumes of that region. The summary checks the form before "Create"; the core
//! checks everything again.

use leptos::prelude::*;
use wintermute_api::client::Client;
use wintermute_api::instances::{
    LaunchRequest, LaunchStorage, LimitsView, NewStorage, SecurityGroup, Volume, VolumeStatus, VolumeType,
    DEFAULT_DEVICE, DEFAULT_MOUNT_POINT, MAX_VOLUME_GB,
};
use wintermute_api::providers::{Image, Provider};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::setup::{check_user_name, parse_packages, parse_services, Setup, SetupUser};
use wintermute_api::tasks::Task;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::images::os_name;
use crate::rights::Rights;
use crate::ui::{tab_button, ErrorBox, Modal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Instance,
    Storage,
    Setup,
    Summary,
}

impl Tab {
    fn next(self) -> Tab {
        match self {
            Tab::Instance => Tab::Storage,
            Tab::Storage => Tab::Setup,
            Tab::Setup | Tab::Summary => Tab::Summary,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageMode {
    None,
    New,
    Reuse,
}

/// What the dialog offers, loaded once when it opens.
#[derive(Debug, Clone, Default, PartialEq)]
struct Offer {
    images: Vec<Image>,
    providers: Vec<Provider>,
    volumes: Vec<Volume>,
    limits: Option<LimitsView>,
}

fn volume_type_text(t: VolumeType) -> &'static str {
    match t {
        VolumeType::GeneralPurpose => "General Purpose (SSD)",
        VolumeType::ProvisionedIops => "Provisioned IOPS (SSD)",
        VolumeType::Magnetic => "Magnetic",
    }
}

pub const VOLUME_TYPES: [VolumeType; 3] =
    [VolumeType::GeneralPurpose, VolumeType::ProvisionedIops, VolumeType::Magnetic];

pub fn volume_type_name(t: VolumeType) -> &'static str {
    volume_type_text(t)
}

#[component]
pub fn LaunchDialog(on_close: Callback<()>, on_launched: Callback<Task>) -> impl IntoView {
    let auth = use_auth();
    let offer = RwSignal::new(Loaded::<Offer>::Loading);
    let me = auth.user_id();
    load_into(auth, offer, move |c: Client| async move {
        let rights = Rights::new(c.objects(Some(ObjectKind::Provider)).await?);
        let providers: Vec<Provider> =
            c.providers().await?.into_iter().filter(|p| rights.may(p.id, ObjectRight::CreateInstances)).collect();
        let images = c
            .images()
            .await?
            .into_iter()
            .filter(|i| i.enabled && providers.iter().any(|p| p.id == i.provider_id))
            .collect();
        let volumes = c.volumes(false).await?.into_iter().filter(|v| v.status == VolumeStatus::Available).collect();
        let limits = c.user_limits(me).await.ok();
        Ok(Offer { images, providers, volumes, limits })
    });

    let tab = RwSignal::new(Tab::Instance);
    // Instance tab.
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let tags = RwSignal::new(String::new());
    let image_id = RwSignal::new(0i64);
    let instance_type = RwSignal::new(String::new());
    let count = RwSignal::new("1".to_string());
    let swarm = RwSignal::new(String::new());
    let groups = RwSignal::new(Vec::<String>::new());
    let region_groups = RwSignal::new(Vec::<SecurityGroup>::new());
    // Storage tab.
    let mode = RwSignal::new(StorageMode::None);
    let encrypted = RwSignal::new(true);
    let size = RwSignal::new("10".to_string());
    let vtype = RwSignal::new(VolumeType::GeneralPurpose);
    let iops = RwSignal::new("3000".to_string());
    let mount_point = RwSignal::new(DEFAULT_MOUNT_POINT.to_string());
    let device = RwSignal::new(DEFAULT_DEVICE.to_string());
    let reuse_id = RwSignal::new(0i64);
    // Setup tab.
    let provision = RwSignal::new(true);
    let update = RwSignal::new(false);
    let reboot = RwSignal::new(false);
    let packages = RwSignal::new(String::new());
    let services = RwSignal::new(String::new());
    let with_user = RwSignal::new(false);
    let user_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let password2 = RwSignal::new(String::new());

    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let images = move || offer.with(|o| o.ready().map(|o| o.images.clone()).unwrap_or_default());
    let image = move || {
        let id = image_id.get();
        images().into_iter().find(|i| i.id == id)
    };
    let provider = move || {
        let img = image()?;
        offer.with(|o| o.ready().and_then(|o| o.providers.iter().find(|p| p.id == img.provider_id).cloned()))
    };
    let types = move || -> Vec<(String, String)> {
        provider()
            .map(|p| {
                p.instance_types
                    .iter()
                    .filter(|t| t.allowed)
                    .map(|t| (t.name.clone(), format!("{} ({} vCPU, {} MiB)", t.name, t.vcpus, t.memory_mib)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let volumes = move || -> Vec<Volume> {
        let Some(img) = image() else { return Vec::new() };
        offer.with(|o| {
            o.ready()
                .map(|o| {
                    o.volumes
                        .iter()
                        .filter(|v| v.provider_id == img.provider_id && v.region == img.region)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    // The first image by default; its provider's first allowed type and its region's groups.
    Effect::new(move |_| {
        if image_id.get() == 0 {
            if let Some(first) = images().first() {
                image_id.set(first.id);
            }
        }
    });
    Effect::new(move |_| {
        let list = types();
        if !list.iter().any(|(n, _)| *n == instance_type.get_untracked()) {
            instance_type.set(list.first().map(|(n, _)| n.clone()).unwrap_or_default());
        }
    });
    Effect::new(move |_| {
        let Some(img) = image() else { return };
        groups.set(Vec::new());
        region_groups.set(Vec::new());
        let client = auth.client();
        leptos::task::spawn_local(async move {
            let Ok(c) = client else { return };
            if let Ok(list) = c.security_groups(img.provider_id, &img.region).await {
                region_groups.set(list.into_iter().filter(|g| g.allowed && !g.managed).collect());
            }
        });
    });

    // Everything wrong with the form, in words; "Create" waits until it is empty.
    let problems = move || -> Vec<String> {
        let mut out = Vec::new();
        if name.get().trim().is_empty() {
            out.push("Instance: a name is needed.".into());
        }
        if image().is_none() {
            out.push("Instance: choose an operating system (image).".into());
        }
        if instance_type.get().is_empty() {
            out.push("Instance: choose an instance type.".into());
        }
        match count.get().trim().parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => {}
            _ => out.push("Instance: the number of instances is 1 to 100.".into()),
        }
        match mode.get() {
            StorageMode::New => match size.get().trim().parse::<i64>() {
                Ok(n) if (1..=MAX_VOLUME_GB).contains(&n) => {}
                _ => out.push(format!("Storage: the size is 1 to {MAX_VOLUME_GB} GB.")),
            },
            StorageMode::Reuse => {
                if reuse_id.get() == 0 {
                    out.push("Storage: choose the volume to reuse.".into());
                }
                if count.get().trim() != "1" {
                    out.push("Storage: a reused volume goes to one instance only.".into());
                }
            }
            StorageMode::None => {}
        }
        if let Err(e) = parse_packages(&packages.get()) {
            out.push(format!("Setup: software packages: {e}"));
        }
        if let Err(e) = parse_services(&services.get()) {
            out.push(format!("Setup: services: {e}"));
        }
        if with_user.get() {
            if let Err(e) = check_user_name(&user_name.get()) {
                out.push(format!("Setup: user: {}", e.reason));
            }
            if password.get().is_empty() {
                out.push("Setup: the user's password is empty.".into());
            } else if password.get() != password2.get() {
                out.push("Setup: the two passwords differ.".into());
            }
        }
        out
    };
    let request = move || -> LaunchRequest {
        let storage = match mode.get_untracked() {
            StorageMode::None => LaunchStorage::None,
            StorageMode::New => LaunchStorage::New(NewStorage {
                size_gb: size.get_untracked().trim().parse().unwrap_or(0),
                volume_type: vtype.get_untracked(),
                iops: (vtype.get_untracked() == VolumeType::ProvisionedIops)
                    .then(|| iops.get_untracked().trim().parse().ok())
                    .flatten(),
                encrypted: encrypted.get_untracked(),
                mount_point: Some(mount_point.get_untracked()).filter(|m| !m.trim().is_empty()),
                device: Some(device.get_untracked()).filter(|d| !d.trim().is_empty()),
            }),
            StorageMode::Reuse => LaunchStorage::Reuse {
                volume_id: reuse_id.get_untracked(),
                device: Some(device.get_untracked()).filter(|d| !d.trim().is_empty()),
                mount_point: Some(mount_point.get_untracked()).filter(|m| !m.trim().is_empty()),
            },
        };
        LaunchRequest {
            name: name.get_untracked().trim().to_string(),
            description: description.get_untracked(),
            tags: tags.get_untracked(),
            image_id: image_id.get_untracked(),
            instance_type: instance_type.get_untracked(),
            count: count.get_untracked().trim().parse().ok(),
            security_groups: groups.get_untracked(),
            swarm: Some(swarm.get_untracked().trim().to_string()).filter(|s| !s.is_empty()),
            storage,
            setup: Setup {
                provision: provision.get_untracked(),
                update: update.get_untracked(),
                reboot: reboot.get_untracked() && update.get_untracked(),
                packages: packages.get_untracked(),
                services: services.get_untracked(),
                user: with_user
                    .get_untracked()
                    .then(|| SetupUser { name: user_name.get_untracked(), password: password.get_untracked() }),
            },
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if tab.get_untracked() != Tab::Summary {
            tab.update(|t| *t = t.next());
            return;
        }
        if !problems().is_empty() {
            return;
        }
        let req = request();
        act(auth, busy, error, move |c: Client| async move { c.launch(&req).await }, move |l| on_launched.run(l.task));
    };

    let summary = move || -> Vec<(&'static str, String)> {
        let img = image();
        let storage = match mode.get() {
            StorageMode::None => "none".to_string(),
            StorageMode::New => format!(
                "new {} GB {}{}, mounted at {} ({})",
                size.get(),
                volume_type_text(vtype.get()),
                if encrypted.get() { ", encrypted" } else { ", NOT encrypted" },
                mount_point.get(),
                device.get()
            ),
            StorageMode::Reuse => {
                let v = volumes().into_iter().find(|v| v.id == reuse_id.get());
                format!("reuse {}", v.map(|v| format!("{} ({} GB)", v.name, v.size_gb)).unwrap_or_else(|| "—".into()))
            }
        };
        let setup = if !provision.get() {
            "none (a bare instance)".to_string()
        } else {
            let mut s = Vec::new();
            if update.get() {
                s.push(if reboot.get() { "updates, reboot if needed".to_string() } else { "updates".to_string() });
            }
            if !packages.get().trim().is_empty() {
                s.push(format!("packages: {}", packages.get()));
            }
            if !services.get().trim().is_empty() {
                s.push(format!("services: {}", services.get()));
            }
            if with_user.get() {
                s.push(format!("user {}", user_name.get()));
            }
            if s.is_empty() {
                "the core's SSH access only".to_string()
            } else {
                s.join("; ")
            }
        };
        vec![
            ("Name", name.get()),
            ("Description", description.get()),
            ("Instances", count.get()),
            ("Tags", tags.get()),
            (
                "Operating system",
                img.as_ref().map(|i| format!("{} — {}", i.name, i.description)).unwrap_or_else(|| "—".into()),
            ),
            (
                "Provider / region",
                img.as_ref().map(|i| format!("{} / {}", i.provider_name, i.region)).unwrap_or_else(|| "—".into()),
            ),
            ("Instance type", instance_type.get()),
            (
                "Security groups",
                if groups.get().is_empty() { "only the core's SSH group".into() } else { groups.get().join(", ") },
            ),
            ("Swarm", swarm.get()),
            ("Storage", storage),
            ("Setup", setup),
        ]
    };
    let limits_text = move || {
        offer.with(|o| {
            o.ready().and_then(|o| o.limits).map(|l| {
                let running = match l.limits.max_running_instances {
                    Some(max) => format!("{} of at most {} instances running", l.usage.running_instances, max),
                    None => format!("{} instances running (no limit)", l.usage.running_instances),
                };
                let gb = match l.limits.max_volume_gb {
                    Some(max) => format!("{} of at most {} GB of volumes", l.usage.volume_gb, max),
                    None => format!("{} GB of volumes (no limit)", l.usage.volume_gb),
                };
                let life = l
                    .limits
                    .max_lifetime_hours
                    .map(|h| format!("; instances are powered off after {h} hours"))
                    .unwrap_or_default();
                format!("Your limits: {running}, {gb}{life}.")
            })
        })
    };

    view! {
        <Modal title="Create instance" on_close=on_close wide=true>
            <div class="tabs" role="tablist">
                {tab_button(tab, Tab::Instance, "Instance")}
                {tab_button(tab, Tab::Storage, "Storage")}
                {tab_button(tab, Tab::Setup, "Setup")}
                {tab_button(tab, Tab::Summary, "Summary")}
            </div>
            <form class="modal-body stack launch" on:submit=submit>
                {move || match offer.get() {
                    Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
                    Loaded::Failed(e) => view! { <div class="error" role="alert">{e}</div> }.into_any(),
                    Loaded::Ready(o) if o.images.is_empty() => {
                        view! {
                            <p class="muted">
                                "No image is available to you: an administrator imports and enables images, and shares a provider with your group."
                            </p>
                        }
                            .into_any()
                    }
                    Loaded::Ready(_) => ().into_any(),
                }}
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Instance>
                    <div class="row2">
                        <label>"Name" <input type="text" name="name" required placeholder="e.g. RHEL9@EU-Center" bind:value=name /></label>
                        <label>
                            "Instances"
                            <input type="number" name="count" min="1" max="100" bind:value=count />
                        </label>
                    </div>
                    <label>
                        "Description"
                        <input type="text" name="description" placeholder="e.g. 5 machines for LAMP tests" bind:value=description />
                    </label>
                    <label>
                        "Tags"
                        <input type="text" name="tags" placeholder="1-5:php, 2-3:apache, 1:haproxy" bind:value=tags />
                        <span class="hint">"instance#:tag or first-last:tag, comma separated; the setup scripts see them."</span>
                    </label>
                    <div class="row2">
                        <label>
                            "Operating system"
                            <select name="image" on:change=move |ev| image_id.set(event_target_value(&ev).parse().unwrap_or(0))>
                                {move || {
                                    images()
                                        .into_iter()
                                        .map(|i| {
                                            let id = i.id;
                                            let os = i.os_type.map(os_name).unwrap_or("?");
                                            view! {
                                                <option value=id.to_string() selected=move || image_id.get() == id>
                                                    {format!("{} ({os}) — {} / {}", i.name, i.provider_name, i.region)}
                                                </option>
                                            }
                                        })
                                        .collect_view()
                                }}
                            </select>
                        </label>
                        <label>
                            "Instance type"
                            <select name="instance_type" on:change=move |ev| instance_type.set(event_target_value(&ev))>
                                {move || {
                                    types()
                                        .into_iter()
                                        .map(|(n, text)| {
                                            let v = n.clone();
                                            view! { <option value=n selected=move || instance_type.get() == v>{text}</option> }
                                        })
                                        .collect_view()
                                }}
                            </select>
                        </label>
                    </div>
                    <fieldset class="checks">
                        <legend>"Security groups"</legend>
                        <p class="hint">"The core's own SSH group is always added. Open only the ports you need."</p>
                        {move || {
                            let list = region_groups.get();
                            if list.is_empty() {
                                view! { <p class="muted">"No other group is offered in this region."</p> }.into_any()
                            } else {
                                list.into_iter()
                                    .map(|g| {
                                        let gid = g.group_id.clone();
                                        let gid2 = gid.clone();
                                        view! {
                                            <label class="check">
                                                <input
                                                    type="checkbox"
                                                    name=format!("sg-{}", g.group_id)
                                                    prop:checked=move || groups.with(|s| s.contains(&gid))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        groups.update(|s| {
                                                            s.retain(|x| *x != gid2);
                                                            if on {
                                                                s.push(gid2.clone());
                                                            }
                                                        });
                                                    }
                                                />
                                                {format!(" {} — {}", g.name, g.description)}
                                            </label>
                                        }
                                    })
                                    .collect_view()
                                    .into_any()
                            }
                        }}
                    </fieldset>
                    <label>
                        "Swarm name (optional)"
                        <input type="text" name="swarm" placeholder="instances of a swarm know each other" bind:value=swarm />
                    </label>
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Storage>
                    <fieldset class="checks">
                        <legend>"Instance storage"</legend>
                        {[(StorageMode::None, "None: no extra storage"), (StorageMode::New, "New: a new volume for each instance"), (StorageMode::Reuse, "Reuse: attach an available volume")]
                            .into_iter()
                            .map(|(m, text)| {
                                view! {
                                    <label class="check">
                                        <input
                                            type="radio"
                                            name="storage_mode"
                                            value=format!("{m:?}").to_lowercase()
                                            prop:checked=move || mode.get() == m
                                            on:change=move |_| mode.set(m)
                                        />
                                        " "
                                        {text}
                                    </label>
                                }
                            })
                            .collect_view()}
                        <p class="hint">"Only extra volumes are encrypted by the core: with None there is no encryption."</p>
                    </fieldset>
                    <Show when=move || mode.get() == StorageMode::New>
                        <label class="check">
                            <input type="checkbox" name="encrypted" bind:checked=encrypted />
                            " Encrypted (the core keeps the key; highly recommended)"
                        </label>
                        <div class="row2">
                            <label>"GB" <input type="number" name="size_gb" min="1" bind:value=size /></label>
                            <label>
                                "Storage type"
                                <select name="volume_type" on:change=move |ev| {
                                    if let Some(t) = VolumeType::parse(&event_target_value(&ev)) {
                                        vtype.set(t);
                                    }
                                }>
                                    {VOLUME_TYPES
                                        .into_iter()
                                        .map(|t| view! { <option value=t.as_str() selected=move || vtype.get() == t>{volume_type_text(t)}</option> })
                                        .collect_view()}
                                </select>
                            </label>
                        </div>
                        <Show when=move || vtype.get() == VolumeType::ProvisionedIops>
                            <label>"IOPS" <input type="number" name="iops" min="100" bind:value=iops /></label>
                        </Show>
                    </Show>
                    <Show when=move || mode.get() == StorageMode::Reuse>
                        <label>
                            "Volume"
                            <select name="volume" on:change=move |ev| reuse_id.set(event_target_value(&ev).parse().unwrap_or(0))>
                                <option value="0">"— choose —"</option>
                                {move || {
                                    volumes()
                                        .into_iter()
                                        .map(|v| {
                                            let id = v.id;
                                            view! {
                                                <option value=id.to_string() selected=move || reuse_id.get() == id>
                                                    {format!("{} ({} GB{})", v.name, v.size_gb, if v.encrypted { ", encrypted" } else { "" })}
                                                </option>
                                            }
                                        })
                                        .collect_view()
                                }}
                            </select>
                            <span class="hint">"Available volumes of the image's region."</span>
                        </label>
                    </Show>
                    <Show when=move || mode.get() != StorageMode::None>
                        <div class="row2">
                            <label>"Mount point" <input type="text" name="mount_point" bind:value=mount_point /></label>
                            <label>
                                "Device"
                                <input type="text" name="device" bind:value=device />
                                <span class="hint">"If unsure, keep the default: it works on every supported distribution."</span>
                            </label>
                        </div>
                    </Show>
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Setup>
                    <label class="check">
                        <input type="checkbox" name="provision" bind:checked=provision />
                        " Configure the instance after it booted (off: a bare instance, nothing checked inside)"
                    </label>
                    <fieldset class="checks" prop:disabled=move || !provision.get()>
                        <legend>"Setup"</legend>
                        <label class="check">
                            <input type="checkbox" name="update" bind:checked=update />
                            " Update: install the system updates"
                        </label>
                        <label class="check">
                            <input type="checkbox" name="reboot" bind:checked=reboot prop:disabled=move || !update.get() />
                            " Reboot when a new kernel was installed"
                        </label>
                        <label>
                            "Software packages"
                            <input type="text" name="packages" placeholder="screen, mc, cups:uninstall, Development Tools:group" bind:value=packages />
                            <span class="hint">"name[:install|:uninstall][:package|:group], comma separated."</span>
                        </label>
                        <label>
                            "Services"
                            <input type="text" name="services" placeholder="sshd:start, cupsd:stop" bind:value=services />
                        </label>
                        <label class="check">
                            <input type="checkbox" name="with_user" bind:checked=with_user />
                            " Password: create a user (or change an existing user's password)"
                        </label>
                        <Show when=move || with_user.get()>
                            <div class="row3">
                                <label>"User" <input type="text" name="setup_user" autocomplete="off" bind:value=user_name /></label>
                                <label>"Password" <input type="password" name="setup_password" autocomplete="new-password" bind:value=password /></label>
                                <label>"Repeat password" <input type="password" name="setup_password2" autocomplete="new-password" bind:value=password2 /></label>
                            </div>
                        </Show>
                    </fieldset>
                </div>
                <div class="tab-panel" role="tabpanel" hidden=move || tab.get() != Tab::Summary>
                    <dl class="facts summary">
                        {move || {
                            summary()
                                .into_iter()
                                .map(|(k, v)| view! { <dt>{k}</dt><dd>{if v.is_empty() { "—".to_string() } else { v }}</dd> })
                                .collect_view()
                        }}
                    </dl>
                    {move || limits_text().map(|t| view! { <p class="hint">{t}</p> })}
                    {move || {
                        let p = problems();
                        (!p.is_empty())
                            .then(|| {
                                view! {
                                    <div class="error" role="alert">
                                        <strong>"Before creating: "</strong>
                                        <ul>{p.into_iter().map(|x| view! { <li>{x}</li> }).collect_view()}</ul>
                                    </div>
                                }
                            })
                    }}
                </div>
                <ErrorBox error=error />
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
                    <Show
                        when=move || tab.get() == Tab::Summary
                        fallback=|| view! { <button type="submit" class="primary">"Next"</button> }
                    >
                        <button type="submit" class="primary" disabled=move || busy.get() || !problems().is_empty()>
                            "Create"
                        </button>
                    </Show>
                </div>
            </form>
        </Modal>
    }
}
