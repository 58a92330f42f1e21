//! `wmai login`, `passwd`, `logout`, `whoami`.

use clap::Args;
use wintermute_api::client::{Client, ClientError};
use wintermute_api::users::User;
use wintermute_api::ErrorCode;

use crate::config::{normalize_url, CliConfig};
use crate::exit::CliError;
use crate::input;
use crate::output;
use crate::session::App;
use crate::token_store::Saved;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// URL of the core, e.g. https://core.example.org:8750
    #[arg(value_name = "URL")]
    pub core: String,
    /// Login name (default: the one of the last login to this core, else asked)
    #[arg(long, short = 'u', value_name = "LOGIN")]
    pub user: Option<String>,
    /// Read the password from the first line of stdin instead of asking
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn login(app: &App, args: LoginArgs) -> anyhow::Result<()> {
    let url = normalize_url(&args.core)?;
    let saved_login = match (&app.config.url, &app.config.login) {
        (Some(u), Some(l)) if normalize_url(u).ok().as_deref() == Some(url.as_str()) => Some(l.clone()),
        _ => None,
    };
    let login = match args.user {
        Some(u) if !u.trim().is_empty() => u.trim().to_owned(),
        Some(_) => return Err(CliError::usage("the login is empty").into()),
        None => {
            // stdin is for the password with --password-stdin: never ask for the login there.
            let interactive = !args.password_stdin && std::io::IsTerminal::is_terminal(&std::io::stdin());
            match (saved_login, interactive) {
                (Some(saved), false) => saved,
                (None, false) => return Err(CliError::usage("no login given: pass --user LOGIN").into()),
                (saved, true) => {
                    let prompt = match &saved {
                        Some(s) => format!("Login [{s}]: "),
                        None => "Login: ".to_owned(),
                    };
                    match (input::prompt_line(&prompt, "login")?, saved) {
                        (answer, _) if !answer.is_empty() => answer,
                        (_, Some(saved)) => saved,
                        (_, None) => return Err(CliError::usage("no login given").into()),
                    }
                }
            }
        }
    };
    let password = input::password(
        args.password_stdin,
        &format!("Password of {login} at {url}: "),
        "password",
        "--password-stdin",
    )?;

    let mut client = app.anonymous(&url)?;
    let resp = client.login(&login, &password).await?;
    let saved = app.store().save(&url, &resp.token)?;
    CliConfig { url: Some(url.clone()), login: Some(resp.user.login.clone()) }.save(&app.config_dir)?;

    let change_note = "Your password is temporary: change it with `wmai passwd` before doing anything else.";
    if app.json {
        // The token itself stays out of the output.
        output::print_json(&LoginOutput {
            url: &url,
            user: &resp.user,
            expires_at: resp.expires_at,
            token_store: match saved {
                Saved::Keyring => "keyring",
                Saved::File(_) => "file",
            },
        })?;
        if resp.user.must_change_password {
            eprintln!("{change_note}");
        }
    } else {
        out!("Logged in to {url} as {} (session until {}).", resp.user.login, output::time(resp.expires_at));
        if resp.user.must_change_password {
            out!("{change_note}");
        }
    }
    Ok(())
}

/// `--json` of `wmai login`: the login response without the token.
#[derive(serde::Serialize)]
struct LoginOutput<'a> {
    url: &'a str,
    user: &'a User,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// `keyring` or `file`.
    token_store: &'static str,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Read the current and then the new password as two lines of stdin
    #[arg(long)]
    pub stdin: bool,
}

pub async fn passwd(app: &App, args: PasswdArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    let (current, new) = if args.stdin {
        (input::stdin_line("current password")?, input::stdin_line("new password")?)
    } else {
        let current = input::prompt_password("Current password: ", "--stdin")?;
        let new = input::prompt_password("New password: ", "--stdin")?;
        let again = input::prompt_password("Repeat the new password: ", "--stdin")?;
        if new != again {
            return Err(CliError::invalid("the new passwords do not match").into());
        }
        (current, new)
    };
    if current.is_empty() || new.is_empty() {
        return Err(CliError::invalid("a password is empty").into());
    }
    s.client.change_password(&current, &new).await?;
    super::done(s.json, "Password changed.");
    Ok(())
}

pub async fn logout(app: &App) -> anyhow::Result<()> {
    let url = app.url()?;
    let store = app.store();
    let token = match store.load(&url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warning: {e:#}");
            None
        }
    };
    let mut revoked = false;
    if let Some(token) = token {
        let mut client = Client::new(&url)?.with_token(token);
        match client.logout().await {
            Ok(()) => revoked = true,
            // Already expired or revoked: nothing to do on the core.
            Err(ClientError::Api(e)) if e.code == ErrorCode::Unauthorized => {}
            Err(e) => eprintln!(
                "warning: could not end the session on the core: {}; forgetting it here anyway",
                crate::exit::report(&e.into()).message
            ),
        }
    }
    let forgotten = store.forget(&url)?;
    if std::env::var_os("WMAI_TOKEN").is_some() {
        eprintln!("note: WMAI_TOKEN is set and stays valid; revoke API tokens with `wmai tokens revoke`");
    }
    if app.json {
        output::print_json(&LogoutOutput { url: &url, revoked, forgotten })?;
    } else if forgotten || revoked {
        out!("Logged out of {url}.");
    } else {
        out!("Not logged in to {url}.");
    }
    Ok(())
}

/// `--json` of `wmai logout`.
#[derive(serde::Serialize)]
struct LogoutOutput<'a> {
    url: &'a str,
    /// The session was ended on the core.
    revoked: bool,
    /// A token was removed from the local store.
    forgotten: bool,
}

pub async fn whoami(app: &App) -> anyhow::Result<()> {
    let s = app.session()?;
    let me = s.client.whoami().await?;
    if s.json {
        return output::print_json(&me);
    }
    let mut rows = user_rows(&me);
    rows.insert(0, ("core", s.url.clone()));
    output::print_table(output::properties(rows));
    Ok(())
}

/// The properties of a user, for people.
pub fn user_rows(u: &User) -> Vec<(&'static str, String)> {
    let name = format!("{} {}", u.first_name, u.last_name).trim().to_owned();
    vec![
        ("id", u.id.to_string()),
        ("login", u.login.clone()),
        ("name", if name.is_empty() { "-".into() } else { name }),
        ("email", if u.email.is_empty() { "-".into() } else { u.email.clone() }),
        ("time zone", u.time_zone.clone()),
        ("enabled", output::yes_no(u.enabled).into()),
        ("administrator", output::yes_no(u.is_admin).into()),
        ("must change password", output::yes_no(u.must_change_password).into()),
        ("permissions", output::list(u.permissions.iter().map(|p| p.as_str()))),
        ("created", output::time(u.created_at)),
        ("updated", output::time(u.updated_at)),
    ]
}
