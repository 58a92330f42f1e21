//! The app: login gate, forced password change, the frame (menu, tasks icon, user menu) and the
//! routes of the screens.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::use_location;
use leptos_router::path;
use wintermute_api::tasks::TaskState;
use wintermute_api::users::Permission;

use crate::api::{use_auth, Auth};
use crate::events::{self, use_live, Live};
use crate::pages;
use crate::ui::PersonIcon;

/// Which of the app's three faces shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Restoring,
    LoggedOut,
    MustChangePassword,
    In,
}

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth::restore();
    provide_context(auth);
    // A memo, so that changes of the session that keep the face (a profile saved, a user record
    // reloaded) do not build the app anew.
    let gate = Memo::new(move |_| {
        if auth.restoring.get() {
            return Gate::Restoring;
        }
        match auth.session.with(|s| s.as_ref().map(|s| s.user.must_change_password)) {
            None => Gate::LoggedOut,
            Some(true) => Gate::MustChangePassword,
            Some(false) => Gate::In,
        }
    });
    // The desktop app before a core is chosen: its first-run screen.
    if crate::desktop::is_desktop() && crate::desktop::core_url().is_none() {
        return view! { <crate::desktop::Setup /> }.into_any();
    }
    view! {
        <Router>
            {move || match gate.get() {
                Gate::Restoring => view! { <p class="loading center">"Loading…"</p> }.into_any(),
                Gate::LoggedOut => view! { <pages::login::Login /> }.into_any(),
                Gate::MustChangePassword => view! { <pages::login::ForcedPasswordChange /> }.into_any(),
                Gate::In => view! { <Frame /> }.into_any(),
            }}
        </Router>
    }
    .into_any()
}

/// Everything a logged-in user sees: the top bar and the current screen.
#[component]
fn Frame() -> impl IntoView {
    let auth = use_auth();
    let live = Live::new();
    provide_context(live);
    if let Some(token) = auth.session.with_untracked(|s| s.as_ref().map(|s| s.token.clone())) {
        events::connect(live, events_url(&token));
    }
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <TopBar />
        <main id="main" tabindex="-1">
            <Routes fallback=|| view! { <section class="page"><h1>"Not found"</h1><p>"There is no such page."</p></section> }>
                <Route path=path!("/") view=pages::dashboard::Dashboard />
                <Route path=path!("/tasks") view=pages::tasks::TaskList />
                <Route path=path!("/tasks/:id") view=pages::tasks::TaskDetail />
                <Route path=path!("/security/users") view=pages::users::Users />
                <Route path=path!("/security/groups") view=pages::groups::Groups />
                <Route path=path!("/instances") view=pages::instances::Instances />
                <Route path=path!("/instances/:id/console") view=pages::console::Console />
                <Route path=path!("/storage") view=pages::storage::Storage />
                <Route path=path!("/scenarios") view=pages::scenarios::Scenarios />
                <Route path=path!("/providers") view=pages::providers::Providers />
                <Route path=path!("/images") view=pages::images::Images />
                <Route path=path!("/settings") view=pages::settings::Settings />
                <Route path=path!("/profile") view=pages::profile::Profile />
            </Routes>
        </main>
    }
}

fn events_url(token: &str) -> String {
    let base = crate::api::core_url();
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.trim_start_matches("http://"))
    };
    format!("{ws}/api/v1/events?token={}", js_sys::encode_uri_component(token))
}

#[component]
fn TopBar() -> impl IntoView {
    let auth = use_auth();
    let live = use_live();
    let menu_open = RwSignal::new(false);
    let user_open = RwSignal::new(false);
    let location = use_location();
    // Any navigation closes the menus.
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
        user_open.set(false);
    });
    let running = move || {
        let me = auth.user_id();
        live.tasks.with(|t| {
            t.values().filter(|t| t.owner_id == me && matches!(t.state, TaskState::Queued | TaskState::Running)).count()
        })
    };
    let login = move || auth.session.with(|s| s.as_ref().map(|s| s.user.login.clone()).unwrap_or_default());
    let may_manage_users = move || auth.can(Permission::CreateUser) || auth.can(Permission::ChangeUser);
    let logout = move |_| {
        let client = auth.client();
        leptos::task::spawn_local(async move {
            if let Ok(mut c) = client {
                let _ = c.logout().await;
            }
            auth.clear();
        });
    };
    view! {
        <header class="topbar">
            <button
                type="button"
                class="icon-button menu-toggle"
                aria-label="Menu"
                aria-expanded=move || menu_open.get().to_string()
                aria-controls="main-nav"
                on:click=move |_| menu_open.update(|o| *o = !*o)
            >
                "☰"
            </button>
            <A href="/" attr:class="brand">
                <span class="logo" aria-hidden="true">"◆"</span>
                " Wintermute"
            </A>
            <nav
                id="main-nav"
                class="nav"
                class:open=move || menu_open.get()
                aria-label="Main"
                on:click=move |_| menu_open.set(false)
            >
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/instances">"Instances"</A>
                <A href="/storage">"Storage"</A>
                <A href="/scenarios">"Scenarios"</A>
                <A href="/providers">"Providers"</A>
                <A href="/images">"Images"</A>
                <Show when=may_manage_users>
                    <A href="/security/users">"Security"</A>
                </Show>
                <A href="/settings">"Settings"</A>
            </nav>
            <div class="topbar-right">
                <span
                    class="live-dot"
                    class:on=move || live.connected.get()
                    title=move || if live.connected.get() { "Live updates on" } else { "Live updates reconnecting" }
                ></span>
                <A href="/tasks" attr:class="tasks-link" attr:aria-label=move || format!("Tasks ({} running)", running())>
                    <span aria-hidden="true">"⚙"</span>
                    " Tasks"
                    <Show when=move || { running() > 0 }>
                        <span class="count">{running}</span>
                    </Show>
                </A>
                <div class="user-menu">
                    <button
                        type="button"
                        class="user-button"
                        aria-haspopup="true"
                        aria-expanded=move || user_open.get().to_string()
                        on:click=move |_| user_open.update(|o| *o = !*o)
                    >
                        <PersonIcon />
                        <span>{login}</span>
                    </button>
                    <Show when=move || user_open.get()>
                        // Choosing an item closes the menu.
                        <div class="dropdown" role="menu" on:click=move |_| user_open.set(false)>
                            <A href="/profile" attr:role="menuitem">{move || format!("Profile: {}", login())}</A>
                            <button type="button" role="menuitem" on:click=logout>"Logout"</button>
                        </div>
                    </Show>
                </div>
            </div>
        </header>
    }
}
