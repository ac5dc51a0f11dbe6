//! What the CLI shows and asks on the terminal: a progress spinner, aligned tables, the
//! username/password prompts, and a quiet end when the reader of stdout goes away.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::LoginArgs;

/// A spinner on stderr while a request runs; nothing when stderr is not a terminal.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub fn start(message: impl Into<String>) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// `symphony key list | head` ends quietly when `head` closes the pipe, as other Unix tools do,
/// instead of panicking in `println!`. Only for one-shot commands: their sockets use `MSG_NOSIGNAL`.
pub fn die_quietly_on_closed_stdout() {
    // SAFETY: called at startup before any other thread writes; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub(super) fn read_username(args: &LoginArgs) -> anyhow::Result<String> {
    if let Some(u) = &args.username {
        return Ok(u.clone());
    }
    if args.password_stdin {
        bail!("--password-stdin needs --username (stdin carries the password)");
    }
    if !std::io::stdin().is_terminal() {
        bail!("no --username given and stdin is not a terminal: pass --username NAME");
    }
    eprint!("Username: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let username = line.trim().to_owned();
    if username.is_empty() {
        bail!("no user name given");
    }
    Ok(username)
}

pub(super) fn read_password(args: &LoginArgs) -> anyhow::Result<String> {
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        // One trailing line break is how `echo` and files end; anything else is the password.
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        text.to_owned()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        bail!("stdin is not a terminal: pipe the password in with --password-stdin");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// Prints left-aligned columns sized to their content.
pub fn print_table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = std::array::from_fn(|i| headers[i].chars().count());
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}
