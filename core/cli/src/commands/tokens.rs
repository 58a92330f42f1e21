//! `wmai tokens`: personal API tokens for automation (use one with WMAI_TOKEN).

use clap::{Args, Subcommand};
use wintermute_api::auth::NewApiToken;

use crate::output;
use crate::session::App;

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub cmd: Option<TokensCmd>,
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// List your API tokens (the default)
    List,
    /// Create an API token; its secret is printed only this once
    Create {
        name: String,
        /// Lifetime in days, 1 to 365 (default: the core's, 90)
        #[arg(long)]
        days: Option<u32>,
    },
    /// Revoke an API token
    Revoke { id: i64 },
}

pub async fn run(app: &App, args: TokensArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(TokensCmd::List) {
        TokensCmd::List => {
            let tokens = s.client.api_tokens().await?;
            if s.json {
                return output::print_json(&tokens);
            }
            let mut t = output::table(["ID", "NAME", "CREATED", "EXPIRES", "LAST USED"]);
            for tok in &tokens {
                t.add_row(vec![
                    tok.id.to_string(),
                    tok.name.clone(),
                    output::time(tok.created_at),
                    output::time(tok.expires_at),
                    output::time_opt(tok.last_used_at),
                ]);
            }
            output::print_table(t);
        }
        TokensCmd::Create { name, days } => {
            let created = s.client.create_api_token(&NewApiToken { name, expires_in_days: days }).await?;
            if s.json {
                return output::print_json(&created);
            }
            let t = &created.api_token;
            out!("Created API token {} (id {}), valid until {}.", t.name, t.id, output::time(t.expires_at));
            out!("Secret (shown only now): {}", created.token);
            out!("Use it with: WMAI_TOKEN=<secret> wmai --url {} ...", s.url);
        }
        TokensCmd::Revoke { id } => {
            s.client.revoke_api_token(id).await?;
            super::done(s.json, format!("Revoked API token {id}."));
        }
    }
    Ok(())
}
