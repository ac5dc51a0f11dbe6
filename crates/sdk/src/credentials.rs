//! Where a provisioned token is kept between runs: the OS credential store, else a 0600 file.
//!
//! The keyring entry is `("cirata-symphony", <prefix>)`. The file is `<config>/<prefix>.token` where `<config>`
//! is `CIRATA_CONFIG_DIR` or `~/.config/cirata`. `SYMPHONY_CREDENTIAL_STORE=file` skips the keyring entirely
//! (containers, tests). Keyring calls block (D-Bus), so they run on `spawn_blocking`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Keyring service name shared by every Symphony SDK.
pub(crate) const KEYRING_SERVICE: &str = "cirata-symphony";
/// Env var naming the directory of token files.
pub(crate) const CONFIG_DIR_ENV: &str = "CIRATA_CONFIG_DIR";
/// Env var that forces the file store (`file`).
pub(crate) const STORE_ENV: &str = "SYMPHONY_CREDENTIAL_STORE";

/// Where [`CredentialStore::save`] put the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SavedIn {
    Keyring,
    File(PathBuf),
}

/// The token store of one extension prefix.
#[derive(Debug, Clone)]
pub(crate) struct CredentialStore {
    prefix: String,
    use_keyring: bool,
    dir: Option<PathBuf>,
}

impl CredentialStore {
    /// The store described by the environment.
    pub(crate) fn from_env(prefix: &str) -> Self {
        let use_keyring =
            !std::env::var(STORE_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("file"));
        let dir = std::env::var_os(CONFIG_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".config").join("cirata")));
        CredentialStore {
            prefix: prefix.to_owned(),
            use_keyring,
            dir,
        }
    }

    /// A file-only store in `dir` (tests).
    #[cfg(test)]
    pub(crate) fn file_only(prefix: &str, dir: &Path) -> Self {
        CredentialStore {
            prefix: prefix.to_owned(),
            use_keyring: false,
            dir: Some(dir.to_owned()),
        }
    }

    /// `<config>/<prefix>.token`, when a config directory is known.
    pub(crate) fn token_file(&self) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.token", self.prefix)))
    }

    /// The stored token: the keyring first, then the file. Any failure reads as "nothing stored".
    pub(crate) async fn load(&self) -> Option<String> {
        if self.use_keyring
            && let Some(token) = keyring_get(self.prefix.clone()).await
        {
            return Some(token);
        }
        let path = self.token_file()?;
        tokio::task::spawn_blocking(move || read_token_file(&path))
            .await
            .ok()
            .flatten()
    }

    /// Stores `token` in the keyring, or in the file when the keyring is unavailable.
    pub(crate) async fn save(&self, token: &str) -> std::io::Result<SavedIn> {
        if self.use_keyring && keyring_set(self.prefix.clone(), token.to_owned()).await {
            return Ok(SavedIn::Keyring);
        }
        let path = self.token_file().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no home directory; set {CONFIG_DIR_ENV}"),
            )
        })?;
        let token = token.to_owned();
        let written = path.clone();
        tokio::task::spawn_blocking(move || write_token_file(&path, &token))
            .await
            .map_err(std::io::Error::other)??;
        Ok(SavedIn::File(written))
    }
}

async fn keyring_get(prefix: String) -> Option<String> {
    let result = tokio::task::spawn_blocking(move || {
        keyring::Entry::new(KEYRING_SERVICE, &prefix).and_then(|e| e.get_password())
    })
    .await
    .ok()?;
    match result {
        Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        Ok(_) | Err(keyring::Error::NoEntry) => None,
        Err(e) => {
            tracing::debug!(error = %e, "OS credential store unavailable; using the token file");
            None
        }
    }
}

async fn keyring_set(prefix: String, token: String) -> bool {
    let result = tokio::task::spawn_blocking(move || {
        keyring::Entry::new(KEYRING_SERVICE, &prefix).and_then(|e| e.set_password(&token))
    })
    .await;
    match result {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "OS credential store unavailable; writing the token file");
            false
        }
        Err(_) => false,
    }
}

/// Reads a token file; a missing or empty file is `None`. Warns when others may read it.
fn read_token_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the token file is readable by other users; run `chmod 600` on it"
        );
    }
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Writes `token` (and a newline) atomically with mode 0600 (docs/protocol.md §5.6).
fn write_token_file(path: &Path, token: &str) -> std::io::Result<()> {
    symphony_protocol::private_file::write_private(path, format!("{token}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn file_store_round_trips_with_private_permissions() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg").join("cirata");
        let store = CredentialStore::file_only("catalog", &dir);
        assert_eq!(store.load().await, None);

        let saved = store.save("tok.en.value").await.unwrap();
        let file = dir.join("catalog.token");
        assert_eq!(saved, SavedIn::File(file.clone()));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(store.load().await.as_deref(), Some("tok.en.value"));

        // Overwriting replaces the token and leaves no temp file behind.
        store.save("second").await.unwrap();
        assert_eq!(store.load().await.as_deref(), Some("second"));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("catalog.token")]);
    }

    #[tokio::test]
    async fn blank_files_and_other_prefixes_read_as_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("catalog.token"), "  \n").unwrap();
        assert_eq!(
            CredentialStore::file_only("catalog", tmp.path())
                .load()
                .await,
            None
        );
        assert_eq!(
            CredentialStore::file_only("other", tmp.path()).load().await,
            None
        );
    }

    #[test]
    fn existing_directories_keep_their_mode() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        write_token_file(&tmp.path().join("x.token"), "t").unwrap();
        assert_eq!(mode(tmp.path()), 0o755);
        assert_eq!(mode(&tmp.path().join("x.token")), 0o600);
    }
}
