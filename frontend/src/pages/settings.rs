//! The core's WMAIS_* settings (manual 6.1, 8.3): everyone reads them, administrators change them.

use leptos::prelude::*;
use serde_json::Value;
use wintermute_api::settings::{Setting, SettingType};

use crate::api::{act, load_into, use_auth, Loaded};
use crate::ui::{fmt_opt_time, ErrorBox};

#[component]
pub fn Settings() -> impl IntoView {
    let auth = use_auth();
    let settings = RwSignal::new(Loaded::<Vec<Setting>>::Loading);
    load_into(auth, settings, |c| async move { c.settings().await });
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Settings"</h1>
            </div>
            <Show when=move || !auth.is_admin()>
                <p class="hint">"Only administrators change settings."</p>
            </Show>
            {move || match settings.get() {
                Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Loaded::Failed(e) => view! { <div class="error" role="alert">{e}</div> }.into_any(),
                Loaded::Ready(list) => {
                    view! {
                        <div class="settings-list">
                            {list.into_iter().map(|s| view! { <SettingRow setting=s /> }).collect_view()}
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[component]
fn SettingRow(setting: Setting) -> impl IntoView {
    let auth = use_auth();
    let current = RwSignal::new(setting.clone());
    let text = RwSignal::new(as_text(&setting.value));
    let flag = RwSignal::new(setting.value.as_bool().unwrap_or(false));
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let name = setting.name.clone();
    let kind = setting.value_type;
    let input_id = format!("setting-{}", setting.name);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let value = match kind {
            SettingType::Boolean => Value::Bool(flag.get_untracked()),
            SettingType::Integer => match text.get_untracked().trim().parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    error.set(Some("Enter a whole number.".into()));
                    return;
                }
            },
            SettingType::String => Value::String(text.get_untracked()),
        };
        let name = name.clone();
        act(
            auth,
            busy,
            error,
            move |c| async move { c.set_setting(&name, value).await },
            move |s| {
                text.set(as_text(&s.value));
                current.set(s);
                saved.set(true);
            },
        );
    };
    let admin = move || auth.is_admin();
    let input = match kind {
        SettingType::Boolean => view! {
            <input id=input_id.clone() type="checkbox" bind:checked=flag disabled=move || !admin() />
        }
        .into_any(),
        SettingType::Integer => view! {
            <input id=input_id.clone() type="number" bind:value=text disabled=move || !admin() />
        }
        .into_any(),
        SettingType::String => view! {
            <input id=input_id.clone() type="text" bind:value=text disabled=move || !admin() />
        }
        .into_any(),
    };
    view! {
        <form class="card setting" on:submit=save data-setting=setting.name.clone()>
            <div class="setting-head">
                <label for=input_id.clone()>
                    <code>{setting.name.clone()}</code>
                </label>
                <span class="hint">{setting.constraint.clone()}</span>
            </div>
            <p>{setting.description.clone()}</p>
            <div class="setting-edit">
                {input}
                <Show when=admin>
                    <button type="submit" class="small primary" disabled=move || busy.get()>"Save"</button>
                </Show>
                <span class="hint">{format!("default: {}", as_text(&setting.default))}</span>
            </div>
            <p class="hint">
                {move || {
                    current
                        .with(|s| {
                            s.updated_by
                                .as_ref()
                                .map(|by| format!("changed by {by} at {}", fmt_opt_time(&s.updated_at)))
                                .unwrap_or_default()
                        })
                }}
            </p>
            <ErrorBox error=error />
            <Show when=move || saved.get()>
                <p class="ok" role="status">"Saved."</p>
            </Show>
        </form>
    }
}
