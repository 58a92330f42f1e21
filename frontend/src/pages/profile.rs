//! "Profile: login" (manual 6.2.2, 7.1): one's own details, SSH public key and password.

use leptos::prelude::*;
use wintermute_api::keys::SshPublicKey;
use wintermute_api::users::UserPatch;

use crate::api::{act, load_into, use_auth, Loaded};
use crate::pages::login::PasswordForm;
use crate::ui::{fmt_time, ErrorBox};

#[component]
pub fn Profile() -> impl IntoView {
    let auth = use_auth();
    let Some(user) = auth.user() else { return ().into_any() };
    let first = RwSignal::new(user.first_name.clone());
    let last = RwSignal::new(user.last_name.clone());
    let email = RwSignal::new(user.email.clone());
    let tz = RwSignal::new(user.time_zone.clone());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let id = user.id;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let p = UserPatch {
            first_name: Some(first.get_untracked()),
            last_name: Some(last.get_untracked()),
            email: Some(email.get_untracked()),
            time_zone: Some(tz.get_untracked()),
            ..UserPatch::default()
        };
        act(
            auth,
            busy,
            error,
            move |c| async move { c.update_user(id, &p).await },
            move |u| {
                auth.set_user(u);
                saved.set(true);
            },
        );
    };
    let key = RwSignal::new(Loaded::<SshPublicKey>::Loading);
    load_into(auth, key, move |c| async move { c.ssh_key(id).await });
    let copied = RwSignal::new(false);
    let copy = move |_| {
        if let (Some(k), Some(w)) = (key.with_untracked(|k| k.ready().map(|k| k.public_key.clone())), web_sys::window())
        {
            let _ = w.navigator().clipboard().write_text(&k);
            copied.set(true);
        }
    };
    view! {
        <section class="page">
            <div class="page-head">
                <h1>{format!("Profile: {}", user.login)}</h1>
            </div>
            <div class="two-col">
                <form class="card stack" on:submit=save>
                    <h2>"Details"</h2>
                    <div class="row2">
                        <label>"First name" <input type="text" name="first_name" bind:value=first /></label>
                        <label>"Last name" <input type="text" name="last_name" bind:value=last /></label>
                    </div>
                    <label>"Email" <input type="email" name="email" bind:value=email /></label>
                    <label>"Time zone" <input type="text" name="time_zone" bind:value=tz /></label>
                    <p class="hint">
                        {format!(
                            "Login {} · {}{}",
                            user.login,
                            if user.is_admin { "administrator" } else { "user" },
                            if user.enabled { "" } else { " · disabled" },
                        )}
                    </p>
                    <ErrorBox error=error />
                    <Show when=move || saved.get()>
                        <p class="ok" role="status">"Saved."</p>
                    </Show>
                    <div class="buttons">
                        <button type="submit" class="primary" disabled=move || busy.get()>"Save"</button>
                    </div>
                </form>
                <section class="card stack">
                    <h2>"Change password"</h2>
                    <PasswordForm submit_label="Change password" />
                </section>
            </div>
            <section class="card stack">
                <h2>"SSH public key"</h2>
                <p class="hint">
                    "The core keeps your key pair and installs this public key on your instances; the private key never leaves it."
                </p>
                {move || match key.get() {
                    Loaded::Loading => view! { <p class="loading">"Loading…"</p> }.into_any(),
                    Loaded::Failed(e) => view! { <div class="error" role="alert">{e}</div> }.into_any(),
                    Loaded::Ready(k) => {
                        view! {
                            <textarea class="key" readonly rows="3" aria-label="SSH public key">{k.public_key.clone()}</textarea>
                            <p class="hint">
                                {format!("{} · created {}", k.fingerprint, fmt_time(&k.created_at))}
                            </p>
                            <div class="buttons">
                                <button type="button" on:click=copy>
                                    {move || if copied.get() { "Copied" } else { "Copy" }}
                                </button>
                            </div>
                        }
                            .into_any()
                    }
                }}
            </section>
        </section>
    }
    .into_any()
}
