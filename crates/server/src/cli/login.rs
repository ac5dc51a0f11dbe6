//! The commands that manage sign-ins: `symphony login` and `symphony credential list|remove|clear`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::Method;

use symphony_protocol::Address;
use symphony_protocol::rest::{LoginReply, LoginRequest};

use super::credentials::{Credential, CredentialStore, Storage};
use super::http_client::ApiClient;
use super::terminal::{print_table, read_password, read_username};
use super::{CredentialListArgs, CredentialRemoveArgs, LoginArgs};

/// Signing out while forgetting a credential is a courtesy: never wait long for it.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// The name a login is stored under by default: the host, with the port when the address has one.
pub fn default_credential_name(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.trim_end_matches('/').to_owned()
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let address = Address::resolve(&args.address, Some(&args.address))?;
    let base = address.http_base.clone();
    if address.is_plaintext() {
        eprintln!(
            "warning: {base} is plain http: your password and session token travel unencrypted; \
             use https outside a trusted network"
        );
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_credential_name(&base));
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("--name {name:?}: a credential name needs at least one character and no spaces");
    }
    let store = CredentialStore::from_env()?;
    // Refuse before the password is typed, not after the server has opened a session.
    if !args.insecure_storage
        && let Err(reason) = store.keyring_available()
    {
        return Err(store.no_keyring_error(&reason));
    }
    let ca_file = args.ca_file.as_deref().map(absolute).transpose()?;
    let client = ApiClient::new(&base, ca_file.as_deref())?;
    let username = read_username(&args)?;
    let password = read_password(&args)?;
    let reply: LoginReply = client
        .call(
            Method::POST,
            "/login",
            Some(serde_json::to_value(LoginRequest { username, password })?),
            &format!("Signing in to {base}"),
        )
        .await?;
    let cred = Credential {
        name: name.clone(),
        address: base.clone(),
        username: reply.username.clone(),
        token: reply.token,
        ca_file,
    };
    let storage = match store.save(&cred, args.insecure_storage) {
        Ok(s) => s,
        Err(e) => {
            // Do not leave an unusable session open on the server.
            let _ = logout(&cred).await;
            return Err(e);
        }
    };
    let place = match storage {
        Storage::Keyring => "the OS credential store".to_owned(),
        Storage::File => format!("{} (mode 0600)", store.index_path().display()),
    };
    let roles = if reply.roles.is_empty() {
        "no roles".to_owned()
    } else {
        format!("roles: {}", reply.roles.join(", "))
    };
    eprintln!(
        "Logged in to {base} as {} ({roles}).\nSaved as {name:?} in {place}; commands use it unless \
         --credential names another.",
        reply.username
    );
    if reply.idle_timeout_secs > 0 {
        eprintln!(
            "The session ends after {} without use.",
            humantime::format_duration(Duration::from_secs(reply.idle_timeout_secs))
        );
    }
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
}

/// Ends the session on the server; failures are the caller's to ignore.
async fn logout(cred: &Credential) -> anyhow::Result<()> {
    let mut client = ApiClient::new(&cred.address, cred.ca_file.as_deref())?;
    client.session = Some(cred.clone());
    tokio::time::timeout(
        LOGOUT_TIMEOUT,
        client.call_no_reply(Method::POST, "/logout", "Signing out"),
    )
    .await
    .map_err(|_| anyhow!("no answer within {}s", LOGOUT_TIMEOUT.as_secs()))?
}

pub fn credential_list(args: CredentialListArgs) -> anyhow::Result<()> {
    let list = CredentialStore::from_env()?.list()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        eprintln!("no stored sign-ins: run `symphony login --address URL`");
        return Ok(());
    }
    let rows: Vec<[String; 4]> = list
        .iter()
        .map(|c| {
            let mark = if c.default { " (default)" } else { "" };
            [
                format!("{}{mark}", c.name),
                c.address.clone(),
                c.username.clone(),
                c.storage.as_str().to_owned(),
            ]
        })
        .collect();
    print_table(&["NAME", "ADDRESS", "USER", "STORAGE"], &rows);
    Ok(())
}

pub async fn credential_remove(args: CredentialRemoveArgs) -> anyhow::Result<()> {
    let removed = CredentialStore::from_env()?.remove(&args.name)?;
    report_removed(&args.name, removed.as_ref()).await;
    Ok(())
}

pub async fn credential_clear() -> anyhow::Result<()> {
    let store = CredentialStore::from_env()?;
    let names: Vec<String> = store.list()?.into_iter().map(|c| c.name).collect();
    if names.is_empty() {
        eprintln!("no stored sign-ins");
        return Ok(());
    }
    for name in names {
        let removed = store.remove(&name)?;
        report_removed(&name, removed.as_ref()).await;
    }
    Ok(())
}

/// Signs out (best effort) and says what happened.
async fn report_removed(name: &str, cred: Option<&Credential>) {
    let outcome = match cred {
        Some(cred) => match logout(cred).await {
            Ok(()) => format!("signed out of {}", cred.address),
            Err(e) => format!(
                "could not sign out of {} ({}); the session ends by itself when idle",
                cred.address,
                e.to_string().lines().next().unwrap_or_default()
            ),
        },
        None => "its token could not be read, so it was not signed out".to_owned(),
    };
    eprintln!("removed {name:?}: {outcome}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_host_and_port() {
        assert_eq!(
            default_credential_name("https://symphony.example.com"),
            "symphony.example.com"
        );
        assert_eq!(
            default_credential_name("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        );
        assert_eq!(default_credential_name("https://[::1]:8443"), "[::1]:8443");
    }
}
