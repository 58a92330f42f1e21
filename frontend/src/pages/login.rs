//! Login (manual 7.1) and the password change a temporary password forces (6.2.2).

use leptos::prelude::*;

use crate::api::{act, use_auth};
use crate::ui::ErrorBox;

#[component]
pub fn Login() -> impl IntoView {
    let auth = use_auth();
    let login = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (l, p) = (login.get_untracked(), password.get_untracked());
        act(
            auth,
            busy,
            error,
            move |mut c| async move { c.login(&l, &p).await },
            move |r| {
                password.set(String::new());
                auth.login(r.token, r.user);
            },
        );
    };
    view! {
        <div class="auth-page">
            <form class="card auth-card" on:submit=submit>
                <h1>
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Wintermute"
                </h1>
                <p class="muted">"Log in to your core."</p>
                <label>
                    "Login"
                    <input type="text" name="login" autocomplete="username" required autofocus bind:value=login />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required bind:value=password />
                </label>
                <ErrorBox error=error />
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
        </div>
    }
}

/// The first login with a temporary password: nothing else is possible until it is replaced.
#[component]
pub fn ForcedPasswordChange() -> impl IntoView {
    let auth = use_auth();
    let login = move || auth.session.with(|s| s.as_ref().map(|s| s.user.login.clone()).unwrap_or_default());
    view! {
        <div class="auth-page">
            <div class="card auth-card">
                <h1>"Choose your password"</h1>
                <p>
                    "The password of " <strong>{login}</strong>
                    " was set by an administrator and is temporary. Choose your own to continue."
                </p>
                <PasswordForm submit_label="Change password and continue" />
                <button type="button" class="link" on:click=move |_| auth.clear()>
                    "Log out instead"
                </button>
            </div>
        </div>
    }
}

/// Current password, new password twice. On success the session's user is reloaded.
#[component]
pub fn PasswordForm(#[prop(into)] submit_label: String) -> impl IntoView {
    let auth = use_auth();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let done = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        done.set(false);
        if new.get_untracked() != repeat.get_untracked() {
            error.set(Some("The two new passwords differ.".into()));
            return;
        }
        let (cur, nw) = (current.get_untracked(), new.get_untracked());
        act(
            auth,
            busy,
            error,
            move |c| async move {
                c.change_password(&cur, &nw).await?;
                c.whoami().await
            },
            move |user| {
                current.set(String::new());
                new.set(String::new());
                repeat.set(String::new());
                done.set(true);
                auth.set_user(user);
            },
        );
    };
    view! {
        <form class="stack" on:submit=submit>
            <label>
                "Current password"
                <input type="password" name="current_password" autocomplete="current-password" required bind:value=current />
            </label>
            <label>
                "New password"
                <input type="password" name="new_password" autocomplete="new-password" required bind:value=new />
            </label>
            <label>
                "New password again"
                <input type="password" name="repeat_password" autocomplete="new-password" required bind:value=repeat />
            </label>
            <p class="hint">"At least 10 characters, not containing your login; the core checks its strength."</p>
            <ErrorBox error=error />
            <Show when=move || done.get()>
                <p class="ok" role="status">"Password changed."</p>
            </Show>
            <button type="submit" class="primary" disabled=move || busy.get()>
                {submit_label.clone()}
            </button>
        </form>
    }
}
