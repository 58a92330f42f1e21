//! Reading logins and passwords: prompts on a terminal, or lines of stdin for scripts.

use std::io::{BufRead, Write};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::exit::CliError;

/// Reads one line of stdin, without its line ending. `what` names it in errors.
pub fn stdin_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::usage(format!("cannot read the {what} from stdin: {e}")))?;
    if n == 0 {
        return Err(CliError::usage(format!("expected the {what} as a line on stdin, got end of input")).into());
    }
    Ok(trim_line_end(&line).to_owned())
}

/// `line` without a final `\n` or `\r\n`; other whitespace is part of passwords.
pub fn trim_line_end(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Asks for a password on the terminal, without echo.
pub fn prompt_password(prompt: &str, stdin_flag: &str) -> anyhow::Result<String> {
    rpassword::prompt_password(prompt).map_err(|e| {
        CliError::usage(format!("cannot ask for a password here ({e}); pass it on stdin with {stdin_flag}")).into()
    })
}

/// Asks for a visible value (a login) on the terminal; the answer is trimmed and may be empty.
pub fn prompt_line(prompt: &str, what: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    Ok(stdin_line(what)?.trim().to_owned())
}

/// A password that is not empty, from stdin or a prompt.
pub fn password(from_stdin: bool, prompt: &str, what: &str, stdin_flag: &str) -> anyhow::Result<String> {
    let pw = if from_stdin { stdin_line(what)? } else { prompt_password(prompt, stdin_flag)? };
    if pw.is_empty() {
        return Err(CliError::invalid(format!("the {what} is empty")).into());
    }
    Ok(pw)
}

/// Whether a person can be asked on this terminal (stdin is one).
pub fn interactive() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// The error for a secret that cannot be asked for: no terminal and no flag saying where it is.
pub fn no_terminal(what: &str, flags: &str) -> anyhow::Error {
    CliError::usage(format!("no terminal to ask for the {what} on: pass {flags}")).into()
}

/// Asks twice for a new secret on the terminal; fails when the answers differ.
pub fn prompt_new_secret(prompt: &str, again: &str, what: &str, stdin_flag: &str) -> anyhow::Result<String> {
    let first = prompt_password(prompt, stdin_flag)?;
    let second = prompt_password(again, stdin_flag)?;
    if first != second {
        return Err(CliError::invalid(format!("the {what}s do not match")).into());
    }
    Ok(first)
}

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";

/// A random temporary password of `len` (at least 3) characters with lower case, upper case and
/// digits, without look-alike characters and never containing `login`.
pub fn temporary_password(len: usize, login: &str) -> String {
    let len = len.max(3);
    let mut rng = rand::thread_rng();
    let all: Vec<u8> = [LOWER, UPPER, DIGITS].concat();
    loop {
        let mut chars: Vec<u8> = Vec::with_capacity(len);
        for set in [LOWER, UPPER, DIGITS] {
            chars.push(set[rng.gen_range(0..set.len())]);
        }
        while chars.len() < len {
            chars.push(all[rng.gen_range(0..all.len())]);
        }
        chars.shuffle(&mut rng);
        let pw: String = chars.into_iter().map(char::from).collect();
        if login.chars().count() < 3 || !pw.to_lowercase().contains(&login.to_lowercase()) {
            return pw;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_removed_and_nothing_else() {
        assert_eq!(trim_line_end("pw\n"), "pw");
        assert_eq!(trim_line_end("pw\r\n"), "pw");
        assert_eq!(trim_line_end(" p w \n"), " p w ");
        assert_eq!(trim_line_end("pw"), "pw");
    }

    #[test]
    fn temporary_passwords_are_strong() {
        for _ in 0..200 {
            let pw = temporary_password(20, "ab");
            assert_eq!(pw.chars().count(), 20);
            assert!(pw.chars().any(|c| c.is_ascii_lowercase()));
            assert!(pw.chars().any(|c| c.is_ascii_uppercase()));
            assert!(pw.chars().any(|c| c.is_ascii_digit()));
            assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()));
        }
        assert_ne!(temporary_password(20, "x"), temporary_password(20, "x"));
    }

    #[test]
    fn temporary_passwords_avoid_the_login() {
        for _ in 0..500 {
            assert!(!temporary_password(20, "abc").to_lowercase().contains("abc"));
        }
    }
}
