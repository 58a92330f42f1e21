//! `wmai settings`: list, get, set.

use clap::{Args, Subcommand};
use wintermute_api::settings::{Setting, SettingType};

use crate::output;
use crate::session::App;

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub cmd: Option<SettingsCmd>,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// List settings with their values and defaults (the default)
    List,
    /// Show one setting
    Get {
        /// e.g. WMAIS_CONNECTION_ATTEMPTS
        name: String,
    },
    /// Change a setting (administrators)
    Set {
        /// e.g. WMAIS_CONNECTION_ATTEMPTS
        name: String,
        /// The new value: JSON when it parses as JSON (5, true, "x"), otherwise the text itself
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

/// The JSON value of `wmai settings set NAME VALUE`: numbers, booleans and other JSON as such,
/// anything that is not JSON as a string.
pub fn parse_value(raw: &str) -> serde_json::Value {
    serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()))
}

pub async fn run(app: &App, args: SettingsArgs) -> anyhow::Result<()> {
    let s = app.session()?;
    match args.cmd.unwrap_or(SettingsCmd::List) {
        SettingsCmd::List => {
            let settings = s.client.settings().await?;
            if s.json {
                return output::print_json(&settings);
            }
            let mut t = output::table(["NAME", "VALUE", "DEFAULT"]);
            for st in &settings {
                t.add_row(vec![st.name.clone(), output::value(&st.value), output::value(&st.default)]);
            }
            output::print_table(t);
            Ok(())
        }
        SettingsCmd::Get { name } => {
            let st = s.client.setting(name.trim()).await?;
            print_setting(s.json, &st)
        }
        SettingsCmd::Set { name, value } => {
            let st = s.client.set_setting(name.trim(), parse_value(&value)).await?;
            print_setting(s.json, &st)
        }
    }
}

fn print_setting(json: bool, st: &Setting) -> anyhow::Result<()> {
    if json {
        return output::print_json(st);
    }
    let kind = match st.value_type {
        SettingType::Integer => "integer",
        SettingType::Boolean => "boolean",
        SettingType::String => "string",
    };
    output::print_table(output::properties(vec![
        ("name", st.name.clone()),
        ("value", output::value(&st.value)),
        ("default", output::value(&st.default)),
        ("type", kind.to_owned()),
        ("allowed", st.constraint.clone()),
        ("description", st.description.clone()),
        ("changed", output::time_opt(st.updated_at)),
        ("changed by", st.updated_by.clone().unwrap_or_else(|| "-".to_owned())),
    ]));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_when_they_parse() {
        assert_eq!(parse_value("5"), json!(5));
        assert_eq!(parse_value("-1"), json!(-1));
        assert_eq!(parse_value("2.5"), json!(2.5));
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("false"), json!(false));
        assert_eq!(parse_value("\"10\""), json!("10"));
        assert_eq!(parse_value("null"), serde_json::Value::Null);
    }

    #[test]
    fn other_values_are_strings() {
        assert_eq!(parse_value("Europe/Berlin"), json!("Europe/Berlin"));
        assert_eq!(parse_value("True"), json!("True"));
        assert_eq!(parse_value("12abc"), json!("12abc"));
        assert_eq!(parse_value(""), json!(""));
        assert_eq!(parse_value("hello world"), json!("hello world"));
        assert_eq!(parse_value("{broken"), json!("{broken"));
    }
}
