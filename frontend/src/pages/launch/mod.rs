//! The "Create Instance" dialog (manual 7.3.2) with its Instance, Storage, Setup and Summary
//! tabs, its user defined scripts (the Setup tab's UDS table) and its templates (7.3.3–7.3.5:
//! "From template", "Save as template", "Delete template"). It offers only what the user may use: enabled images of providers where they may create
//! instances, the allowed instance types and security groups of the image's region, and the
//! available volumes of that region. The summary checks the form before "Create"; the core
//! checks everything again.

use leptos::prelude::*;
use wintermute_api::client::Client;
use wintermute_api::instances::{LaunchRequest, LimitsView, SecurityGroup, Volume, VolumeStatus, VolumeType};
use wintermute_api::providers::{Image, Provider};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::scenarios::{NewTemplate, Script, Template, TemplateLaunch};
use wintermute_api::tasks::Task;

mod data;
mod form;
mod uds;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::images::os_name;
use crate::rights::Rights;
use crate::ui::{tab_button, ErrorBox, Modal};
use form::{Form, StorageMode};

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

/// What the dialog offers, loaded once when it opens.
#[derive(Debug, Clone, Default, PartialEq)]
struct Offer {
    images: Vec<Image>,
    providers: Vec<Provider>,
    rights: Rights,
    volumes: Vec<Volume>,
    limits: Option<LimitsView>,
    templates: Vec<Template>,
    scripts: Vec<Script>,
}

pub fn volume_type_name(t: VolumeType) -> &'static str {
    match t {
        VolumeType::GeneralPurpose => "General Purpose (SSD)",
        VolumeType::ProvisionedIops => "Provisioned IOPS (SSD)",
        VolumeType::Magnetic => "Magnetic",
    }
}

const VOLUME_TYPES: [VolumeType; 3] = [VolumeType::GeneralPurpose, VolumeType::ProvisionedIops, VolumeType::Magnetic];

/// The "Storage type" field of the dialogs that make a volume.
pub fn volume_type_field(vtype: RwSignal<VolumeType>) -> impl IntoView {
    let pick = move |ev: leptos::ev::Event| {
        if let Some(t) = VolumeType::parse(&event_target_value(&ev)) {
            vtype.set(t);
        }
    };
    view! {
        <label>
            "Storage type"
            <select name="volume_type" on:change=pick>
                {VOLUME_TYPES
                    .into_iter()
                    .map(|t| view! { <option value=t.as_str() selected=move || vtype.get() == t>{volume_type_name(t)}</option> })
                    .collect_view()}
            </select>
        </label>
    }
}

#[component]
pub fn LaunchDialog(on_close: Callback<()>, on_launched: Callback<Task>) -> impl IntoView {
    let auth = use_auth();
    let offer = RwSignal::new(Loaded::<Offer>::Loading);
    let me = auth.user_id();
    load_into(auth, offer, move |c: Client| async move {
        let rights = Rights::new(c.objects(Some(ObjectKind::Provider)).await?);
        let providers: Vec<Provider> = c
            .providers()
            .await?
            .into_iter()
            .filter(|p| {
                rights.may(p.id, ObjectRight::CreateInstances)
                    || rights.may(p.id, ObjectRight::CreateInstanceFromTemplate)
            })
            .collect();
        let images = c
            .images()
            .await?
            .into_iter()
            .filter(|i| i.enabled && providers.iter().any(|p| p.id == i.provider_id))
            .collect();
        let volumes = c.volumes(false).await?.into_iter().filter(|v| v.status == VolumeStatus::Available).collect();
        let limits = c.user_limits(me).await.ok();
        let templates = c.templates().await?;
        let scripts = c.scripts().await?;
        Ok(Offer { images, providers, rights, volumes, limits, templates, scripts })
    });

    let tab = RwSignal::new(Tab::Instance);
    let form = Form::new();
    let Form {
        name,
        description,
        tags,
        image_id,
        instance_type,
        count,
        swarm,
        groups,
        mode,
        encrypted,
        size,
        vtype,
        iops,
        mount_point,
        device,
        reuse_id,
        provision,
        update,
        reboot,
        packages,
        services,
        with_user,
        user_name,
        password,
        password2,
        uds,
        data_upload,
    } = form;
    let region_groups = RwSignal::new(Vec::<SecurityGroup>::new());
    // Templates.
    let template = RwSignal::new(None::<Template>);
    let template_name = RwSignal::new(String::new());
    let template_note = RwSignal::new(None::<String>);
    let confirm_delete = RwSignal::new(false);

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
        region_groups.set(Vec::new());
        let client = auth.client();
        leptos::task::spawn_local(async move {
            let Ok(c) = client else { return };
            if let Ok(list) = c.security_groups(img.provider_id, &img.region).await {
                let list: Vec<SecurityGroup> = list.into_iter().filter(|g| g.allowed && !g.managed).collect();
                // Keep the ticked groups this region offers too (a template's, say).
                groups.update(|g| g.retain(|id| list.iter().any(|x| x.group_id == *id)));
                region_groups.set(list);
            }
        });
    });

    // Everything wrong with the form, in words; "Create" waits until it is empty.
    let problems = move || form.problems(image().is_some());
    let request = move || form.request();
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
        // Without "create instances" a loaded template is launched as saved (name, count and
        // password may differ): what "create instance from template" allows.
        let from_template = template.get_untracked().filter(|_| {
            let provider = image().map(|i| i.provider_id).unwrap_or(0);
            !offer.with_untracked(|o| o.ready().is_some_and(|o| o.rights.may(provider, ObjectRight::CreateInstances)))
        });
        match from_template {
            Some(t) => {
                let l = TemplateLaunch {
                    name: Some(req.name.clone()),
                    count: req.count,
                    password: req.setup.user.as_ref().map(|u| u.password.clone()),
                };
                act(
                    auth,
                    busy,
                    error,
                    move |c: Client| async move { c.launch_template(t.id, &l).await },
                    move |l| on_launched.run(l.task),
                );
            }
            None => {
                act(
                    auth,
                    busy,
                    error,
                    move |c: Client| async move { c.launch(&req).await },
                    move |l| on_launched.run(l.task),
                );
            }
        }
    };

    let scripts = move || offer.with(|o| o.ready().map(|o| o.scripts.clone()).unwrap_or_default());
    // Scripts for the chosen image's distribution (or any Linux).
    let fitting_scripts = move || {
        let os = image().and_then(|i| i.os_type).map(|o| o.as_str()).unwrap_or_default();
        scripts().into_iter().filter(|s| s.platform.fits(os)).collect::<Vec<_>>()
    };
    let script_name =
        move |id: i64| offer.with(|o| o.ready().map(|o| uds::script_name(&o.scripts, id)).unwrap_or_default());
    let fill = move |r: &LaunchRequest| form.fill(r);
    let choose_template = move |ev: leptos::ev::Event| {
        let id: i64 = event_target_value(&ev).parse().unwrap_or(0);
        confirm_delete.set(false);
        template_note.set(None);
        let t = offer.with_untracked(|o| o.ready().and_then(|o| o.templates.iter().find(|t| t.id == id).cloned()));
        if let Some(t) = &t {
            fill(&t.request);
            template_name.set(t.name.clone());
        }
        template.set(t);
    };
    let may_save_template = move || {
        let provider = image().map(|i| i.provider_id).unwrap_or(0);
        offer.with(|o| o.ready().is_some_and(|o| o.rights.may(provider, ObjectRight::CreateInstanceTemplate)))
    };
    let save_template = move |_| {
        let req = NewTemplate { name: template_name.get_untracked().trim().to_string(), request: request() };
        if req.name.is_empty() {
            error.set(Some("Give the template a name.".into()));
            return;
        }
        // The loaded template is replaced when the name is kept and it may be changed.
        let replace = template
            .get_untracked()
            .filter(|t| t.name == req.name && t.my_rights.contains(&ObjectRight::Change))
            .map(|t| t.id);
        act(
            auth,
            busy,
            error,
            move |c: Client| async move {
                match replace {
                    Some(id) => c.replace_template(id, &req).await,
                    None => c.create_template(&req).await,
                }
            },
            move |t: Template| {
                template_note.set(Some(format!("Saved as template {}.", t.name)));
                offer.update(|o| {
                    if let Loaded::Ready(o) = o {
                        o.templates.retain(|x| x.id != t.id);
                        o.templates.push(t.clone());
                    }
                });
                template.set(Some(t));
            },
        );
    };
    let delete_template = move |_| {
        if !confirm_delete.get_untracked() {
            confirm_delete.set(true);
            return;
        }
        let Some(t) = template.get_untracked() else { return };
        act(
            auth,
            busy,
            error,
            move |c: Client| async move { c.delete_template(t.id).await },
            move |_| {
                confirm_delete.set(false);
                template_note.set(Some(format!("Template {} deleted.", t.name)));
                offer.update(|o| {
                    if let Loaded::Ready(o) = o {
                        o.templates.retain(|x| x.id != t.id);
                    }
                });
                template.set(None);
            },
        );
    };

    let summary = move || -> Vec<(&'static str, String)> {
        let img = image();
        let storage = match mode.get() {
            StorageMode::None => "none".to_string(),
            StorageMode::New => format!(
                "new {} GB {}{}, mounted at {} ({})",
                size.get(),
                volume_type_name(vtype.get()),
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
            (
                "Data Synchronization",
                data_upload
                    .with(|d| d.iter().map(|u| format!("{} → {}", u.source, u.target)).collect::<Vec<_>>().join("; ")),
            ),
            ("Setup", setup),
            (
                "UDS",
                uds.get()
                    .iter()
                    .map(|r| {
                        format!("{}: {} {}", r.sequence, script_name(r.script_id), r.parameters).trim().to_string()
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
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
            {move || {
                let list = offer.with(|o| o.ready().map(|o| o.templates.clone()).unwrap_or_default());
                (!list.is_empty())
                    .then(|| {
                        view! {
                            <div class="modal-body template-pick">
                                <label class="inline">
                                    "From template"
                                    <select name="template" on:change=choose_template>
                                        <option value="0" selected=move || template.with(|t| t.is_none())>"— none —"</option>
                                        {list
                                            .into_iter()
                                            .map(|t| {
                                                let id = t.id;
                                                view! {
                                                    <option value=id.to_string() selected=move || template.with(|x| x.as_ref().is_some_and(|x| x.id == id))>
                                                        {format!("{} ({})", t.name, t.owner.login)}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                </label>
                            </div>
                        }
                    })
            }}
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
                            {volume_type_field(vtype)}
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
                    <data::DataUploads
                        rows=data_upload
                        mount_point=Signal::derive(move || if mode.get() == StorageMode::None { "/mnt/data".to_string() } else { mount_point.get() })
                        disabled=Signal::derive(move || !provision.get())
                    />
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
                    <uds::UdsTable rows=uds scripts=Signal::derive(fitting_scripts) names=Signal::derive(scripts) disabled=Signal::derive(move || !provision.get()) />
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
                    <Show when=may_save_template>
                        <div class="template-save">
                            <label class="inline">
                                "Template name"
                                <input type="text" name="template_name" bind:value=template_name />
                            </label>
                            <button type="button" class="save-template" disabled=move || busy.get() on:click=save_template>
                                "Save as template"
                            </button>
                        </div>
                    </Show>
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
                {move || template_note.get().map(|n| view! { <p class="ok" role="status">{n}</p> })}
                <ErrorBox error=error />
                <div class="buttons">
                    <Show when=move || template.with(|t| t.as_ref().is_some_and(|t| t.my_rights.contains(&ObjectRight::Change)))>
                        <button type="button" class="danger delete-template" disabled=move || busy.get() on:click=delete_template>
                            {move || if confirm_delete.get() { "Really delete the template?" } else { "Delete template" }}
                        </button>
                    </Show>
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
