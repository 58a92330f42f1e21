//! The session (who is logged in, with which token) and the way every screen reaches the core:
//! the shared typed client of `wintermute-api`, pointed at the origin the app was loaded from.

use std::future::Future;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wintermute_api::client::{Client, ClientError};
use wintermute_api::users::{Permission, User};
use wintermute_api::ErrorCode;

/// Where the token is kept between page loads (the desktop app keeps it in the OS keyring).
const TOKEN_KEY: &str = "wintermute.token";

/// The logged-in user and their session token.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token: String,
    pub user: User,
}

/// The app's view of the login state, shared through the context.
#[derive(Clone, Copy)]
pub struct Auth {
    pub session: RwSignal<Option<Session>>,
    /// True while a token kept from an earlier visit is being checked.
    pub restoring: RwSignal<bool>,
}

impl Auth {
    /// Starts logged out, then logs back in with a kept token if the core still accepts it.
    pub fn restore() -> Auth {
        let auth = Auth { session: RwSignal::new(None), restoring: RwSignal::new(false) };
        if let Some(token) = kept_token() {
            auth.restoring.set(true);
            spawn_local(async move {
                match core_client().map(|c| c.with_token(token.clone())) {
                    Ok(c) => match c.whoami().await {
                        Ok(user) => auth.session.set(Some(Session { token, user })),
                        Err(_) => forget_token(),
                    },
                    Err(_) => forget_token(),
                }
                auth.restoring.set(false);
            });
        }
        auth
    }

    pub fn login(&self, token: String, user: User) {
        if crate::desktop::is_desktop() {
            crate::desktop::save_token(&token);
        } else if let Some(s) = storage() {
            let _ = s.set_item(TOKEN_KEY, &token);
        }
        self.session.set(Some(Session { token, user }));
    }

    /// Forgets the session here (the caller logs out at the core first when it can).
    pub fn clear(&self) {
        forget_token();
        self.session.set(None);
    }

    /// A client with the session's token (without one when logged out).
    pub fn client(&self) -> Result<Client, String> {
        let c = core_client().map_err(|e| e.to_string())?;
        Ok(match self.session.get_untracked() {
            Some(s) => c.with_token(s.token),
            None => c,
        })
    }

    pub fn user(&self) -> Option<User> {
        self.session.with(|s| s.as_ref().map(|s| s.user.clone()))
    }

    pub fn user_id(&self) -> i64 {
        self.session.with(|s| s.as_ref().map(|s| s.user.id).unwrap_or(0))
    }

    pub fn is_admin(&self) -> bool {
        self.session.with(|s| s.as_ref().is_some_and(|s| s.user.is_admin))
    }

    /// Whether the user holds a global permission (administrators hold them all), as the core decides.
    pub fn can(&self, p: Permission) -> bool {
        self.session.with(|s| s.as_ref().is_some_and(|s| s.user.is_admin || s.user.permissions.contains(&p)))
    }

    /// Replaces the user record (after a profile or password change).
    pub fn set_user(&self, user: User) {
        self.session.update(|s| {
            if let Some(s) = s {
                s.user = user;
            }
        });
    }

    /// What to show for a failed call. A session the core no longer accepts ends here.
    pub fn error_text(&self, e: &ClientError) -> String {
        if e.code() == Some(ErrorCode::Unauthorized) && self.session.get_untracked().is_some() {
            self.clear();
        }
        error_text(e)
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// The core this app was loaded from (in the desktop app: the core the app chose).
pub fn core_url() -> String {
    if let Some(url) = crate::desktop::core_url() {
        return url;
    }
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_else(|| "http://127.0.0.1:8750".into())
}

fn core_client() -> Result<Client, ClientError> {
    Client::new(&core_url())
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// The token kept from an earlier visit (in the desktop app: from the OS keyring).
fn kept_token() -> Option<String> {
    match crate::desktop::bridge() {
        Some(b) => b.token,
        None => storage().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten()),
    }
}

fn forget_token() {
    if crate::desktop::is_desktop() {
        crate::desktop::forget_token();
    } else if let Some(s) = storage() {
        let _ = s.remove_item(TOKEN_KEY);
    }
}

/// A failure in words a person understands: the core's own message, the field at fault, and
/// when to retry.
pub fn error_text(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => {
            let mut text = api.message.clone();
            if let Some(f) = &api.field {
                if !text.contains(f.as_str()) {
                    text = format!("{text} (field: {f})");
                }
            }
            if let Some(secs) = api.retry_after {
                text = format!("{text} Try again in {secs} seconds.");
            }
            text
        }
        ClientError::Transport { .. } => "The core cannot be reached. Check the connection and try again.".into(),
        ClientError::Unexpected { status, .. } => format!("The core answered something unexpected (HTTP {status})."),
        ClientError::BadUrl(u, why) => format!("Invalid core address {u}: {why}"),
    }
}

/// Something loaded from the core for a screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded<T> {
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Loaded<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Loaded::Ready(v) => Some(v),
            _ => None,
        }
    }
}

/// Runs `call` with a client of the session and puts its outcome into `target`.
pub fn load_into<T, F, Fut>(auth: Auth, target: RwSignal<Loaded<T>>, call: F)
where
    T: Send + Sync + 'static,
    F: FnOnce(Client) -> Fut + 'static,
    Fut: Future<Output = Result<T, ClientError>> + 'static,
{
    let client = match auth.client() {
        Ok(c) => c,
        Err(e) => {
            target.set(Loaded::Failed(e));
            return;
        }
    };
    spawn_local(async move {
        let out = match call(client).await {
            Ok(v) => Loaded::Ready(v),
            Err(e) => Loaded::Failed(auth.error_text(&e)),
        };
        target.set(out);
    });
}

/// Runs an action (a save, a delete) with a client of the session: `busy` is set meanwhile, a
/// failure goes to `error`, success to `done`.
pub fn act<T, F, Fut, D>(auth: Auth, busy: RwSignal<bool>, error: RwSignal<Option<String>>, call: F, done: D)
where
    T: 'static,
    F: FnOnce(Client) -> Fut + 'static,
    Fut: Future<Output = Result<T, ClientError>> + 'static,
    D: FnOnce(T) + 'static,
{
    let client = match auth.client() {
        Ok(c) => c,
        Err(e) => {
            error.set(Some(e));
            return;
        }
    };
    busy.set(true);
    error.set(None);
    spawn_local(async move {
        let out = call(client).await;
        busy.set(false);
        match out {
            Ok(v) => done(v),
            Err(e) => error.set(Some(auth.error_text(&e))),
        }
    });
}
