//! Where `symphony login` keeps its sign-ins: the token in the OS credential store (service
//! `symphony-cli`, user = the credential's name), and an index of names, addresses and users in
//! `<config>/credentials.json` (mode 0600 in a 0700 directory). With `--insecure-storage` the token
//! itself goes into that file instead.
//!
//! `<config>` is `SYMPHONY_CONFIG_DIR`, else `~/.config/symphony`. Any keyring failure reads as "no
//! credential store here" (headless Linux has none); the caller decides whether a file will do.
//! Not for: talking to the server (that is `http_client.rs`).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Keyring service of the CLI's sign-ins.
pub const KEYRING_SERVICE: &str = "symphony-cli";
/// Env var naming the config directory.
pub const CONFIG_DIR_ENV: &str = "SYMPHONY_CONFIG_DIR";
/// The index file in the config directory.
pub const INDEX_FILE: &str = "credentials.json";

/// A sign-in with its token: what the keyring entry holds (as JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub name: String,
    /// Base URL of the instance (`https://host:port`).
    pub address: String,
    pub username: String,
    pub token: String,
    /// A PEM CA file given at login, used again by later commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Where a credential's token is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// The OS credential store.
    Keyring,
    /// The index file itself (`--insecure-storage`).
    File,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Keyring => "keyring",
            Storage::File => "file",
        }
    }
}

/// One line of the index. `token` is present only for [`Storage::File`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct IndexEntry {
    name: String,
    address: String,
    username: String,
    storage: Storage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    saved_at: String,
}

/// `credentials.json`: the sign-ins and which one commands use by default (the latest login).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    credentials: Vec<IndexEntry>,
}

/// What `symphony credential list` shows of a sign-in: never the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialSummary {
    pub name: String,
    pub address: String,
    pub username: String,
    pub storage: Storage,
    pub default: bool,
    pub saved_at: String,
}

/// A place for secrets by name; the OS credential store in the binary, a map in tests.
pub trait SecretStore {
    /// `Err(reason)` when there is no usable store.
    fn available(&self) -> Result<(), String>;
    fn set(&self, name: &str, secret: &str) -> Result<(), String>;
    /// `Ok(None)` when nothing is stored under `name`.
    fn get(&self, name: &str) -> Result<Option<String>, String>;
    fn delete(&self, name: &str) -> Result<(), String>;
}

/// The OS credential store through `keyring` (Secret Service, macOS Keychain, Windows Credential Manager).
pub struct OsKeyring;

impl OsKeyring {
    fn entry(name: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(KEYRING_SERVICE, name).map_err(|e| e.to_string())
    }
}

impl SecretStore for OsKeyring {
    fn available(&self) -> Result<(), String> {
        Self::entry("availability-check").map(|_| ())
    }

    fn set(&self, name: &str, secret: &str) -> Result<(), String> {
        Self::entry(name)?
            .set_password(secret)
            .map_err(|e| e.to_string())
    }

    fn get(&self, name: &str) -> Result<Option<String>, String> {
        match Self::entry(name)?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn delete(&self, name: &str) -> Result<(), String> {
        match Self::entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The CLI's sign-ins in one config directory.
pub struct CredentialStore {
    dir: PathBuf,
    secrets: Box<dyn SecretStore>,
}

/// The message every client command gives when there is nothing to use.
pub const NOT_LOGGED_IN: &str = "not logged in: run `symphony login --address URL`";

impl CredentialStore {
    /// The store in `SYMPHONY_CONFIG_DIR` (or `~/.config/symphony`) backed by the OS keyring.
    pub fn from_env() -> anyhow::Result<Self> {
        let dir = std::env::var_os(CONFIG_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".config").join("symphony")))
            .with_context(|| format!("no home directory: set {CONFIG_DIR_ENV}"))?;
        Ok(Self::new(dir, Box::new(OsKeyring)))
    }

    pub fn new(dir: PathBuf, secrets: Box<dyn SecretStore>) -> Self {
        CredentialStore { dir, secrets }
    }

    /// `<config>/credentials.json`.
    pub fn index_path(&self) -> PathBuf {
        self.dir.join(INDEX_FILE)
    }

    /// `Err(reason)` when the OS credential store cannot be used here.
    pub fn keyring_available(&self) -> Result<(), String> {
        self.secrets.available()
    }

    /// Stores `cred` (in the keyring unless `insecure`) and makes it the default.
    pub fn save(&self, cred: &Credential, insecure: bool) -> anyhow::Result<Storage> {
        let mut index = self.read_index()?;
        let previous = index.credentials.iter().position(|e| e.name == cred.name);
        let storage = if insecure {
            Storage::File
        } else {
            let secret = serde_json::to_string(cred)?;
            self.secrets
                .set(&cred.name, &secret)
                .map_err(|reason| self.no_keyring_error(&reason))?;
            Storage::Keyring
        };
        if let Some(i) = previous {
            let old = index.credentials.remove(i);
            // A token left in the keyring by an earlier secure login must not outlive this one.
            if old.storage == Storage::Keyring && storage == Storage::File {
                let _ = self.secrets.delete(&cred.name);
            }
        }
        index.credentials.push(IndexEntry {
            name: cred.name.clone(),
            address: cred.address.clone(),
            username: cred.username.clone(),
            storage,
            token: (storage == Storage::File).then(|| cred.token.clone()),
            ca_file: cred.ca_file.clone(),
            saved_at: symphony_protocol::time::now_rfc3339(),
        });
        index.default = Some(cred.name.clone());
        self.write_index(&index)?;
        Ok(storage)
    }

    /// Why a secure login cannot be stored, and what to do about it.
    pub fn no_keyring_error(&self, reason: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "no OS credential store is available here ({reason}); run the login again with \
             --insecure-storage to keep the token in {} (mode 0600, readable only by you)",
            self.index_path().display()
        )
    }

    /// The credential called `name`, else the default one.
    pub fn get(&self, name: Option<&str>) -> anyhow::Result<Credential> {
        let index = self.read_index()?;
        let name = match name.or(index.default.as_deref()) {
            Some(n) => n.to_owned(),
            None => bail!(NOT_LOGGED_IN),
        };
        let Some(entry) = index.credentials.iter().find(|e| e.name == name) else {
            if index.credentials.is_empty() {
                bail!(NOT_LOGGED_IN);
            }
            bail!(
                "no stored sign-in is called {name:?}: `symphony credential list` shows the names"
            );
        };
        self.load(entry)
    }

    fn load(&self, entry: &IndexEntry) -> anyhow::Result<Credential> {
        let again = format!(
            "run `symphony login --address {} --name {}` again",
            entry.address, entry.name
        );
        let token = match entry.storage {
            Storage::File => entry
                .token
                .clone()
                .filter(|t| !t.is_empty())
                .with_context(|| format!("the sign-in {:?} has no token: {again}", entry.name))?,
            Storage::Keyring => {
                let secret = self
                    .secrets
                    .get(&entry.name)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "the OS credential store holding {:?} is not reachable ({e}): unlock it, or {again} \
                             with --insecure-storage",
                            entry.name
                        )
                    })?
                    .with_context(|| {
                        format!(
                            "the sign-in {:?} is no longer in the OS credential store: {again}",
                            entry.name
                        )
                    })?;
                let stored: Credential = serde_json::from_str(&secret).with_context(|| {
                    format!(
                        "the OS credential store entry of {:?} is damaged: {again}",
                        entry.name
                    )
                })?;
                stored.token
            }
        };
        Ok(Credential {
            name: entry.name.clone(),
            address: entry.address.clone(),
            username: entry.username.clone(),
            token,
            ca_file: entry.ca_file.clone(),
        })
    }

    /// Every sign-in, oldest first, without tokens.
    pub fn list(&self) -> anyhow::Result<Vec<CredentialSummary>> {
        let index = self.read_index()?;
        Ok(index
            .credentials
            .iter()
            .map(|e| CredentialSummary {
                name: e.name.clone(),
                address: e.address.clone(),
                username: e.username.clone(),
                storage: e.storage,
                default: index.default.as_deref() == Some(e.name.as_str()),
                saved_at: e.saved_at.clone(),
            })
            .collect())
    }

    /// Forgets `name`; returns the credential as it was (when its token could still be read), so
    /// the caller can end the session on the server.
    pub fn remove(&self, name: &str) -> anyhow::Result<Option<Credential>> {
        let mut index = self.read_index()?;
        let Some(i) = index.credentials.iter().position(|e| e.name == name) else {
            bail!(
                "no stored sign-in is called {name:?}: `symphony credential list` shows the names"
            );
        };
        let entry = index.credentials.remove(i);
        let cred = self.load(&entry).ok();
        if entry.storage == Storage::Keyring
            && let Err(e) = self.secrets.delete(name)
        {
            tracing::warn!(credential = name, error = %e, "could not delete the OS credential store entry");
        }
        if index.default.as_deref() == Some(name) {
            // The most recent of the others becomes the default.
            index.default = index.credentials.last().map(|e| e.name.clone());
        }
        self.write_index(&index)?;
        Ok(cred)
    }

    fn read_index(&self) -> anyhow::Result<Index> {
        let path = self.index_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the credentials file is readable by other users; run `chmod 600` on it"
            );
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is malformed: fix it or delete it and log in again",
                path.display()
            )
        })
    }

    fn write_index(&self, index: &Index) -> anyhow::Result<()> {
        let path = self.index_path();
        let mut bytes = serde_json::to_vec_pretty(index)?;
        bytes.push(b'\n');
        symphony_protocol::private_file::write_private(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    use super::*;

    /// A keyring that is not there (headless Linux).
    struct NoKeyring;

    impl SecretStore for NoKeyring {
        fn available(&self) -> Result<(), String> {
            Err("no secret service".into())
        }
        fn set(&self, _: &str, _: &str) -> Result<(), String> {
            Err("no secret service".into())
        }
        fn get(&self, _: &str) -> Result<Option<String>, String> {
            Err("no secret service".into())
        }
        fn delete(&self, _: &str) -> Result<(), String> {
            Err("no secret service".into())
        }
    }

    /// A keyring in memory, shared with the test so it can look inside.
    #[derive(Clone, Default)]
    struct MemoryKeyring(Rc<RefCell<HashMap<String, String>>>);

    impl SecretStore for MemoryKeyring {
        fn available(&self) -> Result<(), String> {
            Ok(())
        }
        fn set(&self, name: &str, secret: &str) -> Result<(), String> {
            self.0.borrow_mut().insert(name.into(), secret.into());
            Ok(())
        }
        fn get(&self, name: &str) -> Result<Option<String>, String> {
            Ok(self.0.borrow().get(name).cloned())
        }
        fn delete(&self, name: &str) -> Result<(), String> {
            self.0.borrow_mut().remove(name);
            Ok(())
        }
    }

    fn cred(name: &str, token: &str) -> Credential {
        Credential {
            name: name.into(),
            address: format!("https://{name}"),
            username: "alice".into(),
            token: token.into(),
            ca_file: None,
        }
    }

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn insecure_storage_round_trips_in_a_private_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg").join("symphony");
        let store = CredentialStore::new(dir.clone(), Box::new(NoKeyring));
        assert!(
            store
                .get(None)
                .unwrap_err()
                .to_string()
                .contains("not logged in")
        );

        let c = cred("one.example", "secret-token-1");
        assert_eq!(store.save(&c, true).unwrap(), Storage::File);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&store.index_path()), 0o600);
        assert_eq!(store.get(None).unwrap(), c);
        assert_eq!(store.get(Some("one.example")).unwrap(), c);

        // No temp file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(INDEX_FILE)]);
    }

    #[test]
    fn without_a_keyring_a_secure_login_fails_and_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(tmp.path().to_owned(), Box::new(NoKeyring));
        let err = store
            .save(&cred("h", "tok"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--insecure-storage"), "{err}");
        assert!(!store.index_path().exists());
    }

    #[test]
    fn keyring_storage_keeps_the_token_out_of_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let keyring = MemoryKeyring::default();
        let store = CredentialStore::new(tmp.path().to_owned(), Box::new(keyring.clone()));
        let c = cred("h", "keyring-secret");
        assert_eq!(store.save(&c, false).unwrap(), Storage::Keyring);
        let file = std::fs::read_to_string(store.index_path()).unwrap();
        assert!(!file.contains("keyring-secret"), "{file}");
        assert!(keyring.0.borrow()["h"].contains("keyring-secret"));
        assert_eq!(store.get(None).unwrap(), c);

        // Switching to insecure storage removes the keyring entry.
        store.save(&cred("h", "file-secret"), true).unwrap();
        assert!(keyring.0.borrow().is_empty());
        assert_eq!(store.get(Some("h")).unwrap().token, "file-secret");

        store.save(&c, false).unwrap();
        assert_eq!(store.remove("h").unwrap(), Some(c));
        assert!(keyring.0.borrow().is_empty());
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn the_latest_login_is_the_default_and_list_never_shows_tokens() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(tmp.path().to_owned(), Box::new(NoKeyring));
        store.save(&cred("a", "token-of-a"), true).unwrap();
        store.save(&cred("b", "token-of-b"), true).unwrap();
        assert_eq!(store.get(None).unwrap().name, "b");

        let list = store.list().unwrap();
        assert_eq!(
            list.iter()
                .map(|c| (c.name.as_str(), c.default))
                .collect::<Vec<_>>(),
            vec![("a", false), ("b", true)]
        );
        let shown = serde_json::to_string(&list).unwrap();
        assert!(!shown.contains("token-of"), "{shown}");

        // Removing the default makes the most recent other one the default.
        assert_eq!(store.remove("b").unwrap().unwrap().token, "token-of-b");
        assert_eq!(store.get(None).unwrap().name, "a");
        let err = store.remove("b").unwrap_err().to_string();
        assert!(err.contains("credential list"), "{err}");
        let err = store.get(Some("zzz")).unwrap_err().to_string();
        assert!(err.contains("\"zzz\""), "{err}");

        store.save(&cred("c", "token-of-c"), true).unwrap();
        for c in store.list().unwrap() {
            store.remove(&c.name).unwrap();
        }
        assert!(store.list().unwrap().is_empty());
        assert!(
            store
                .get(None)
                .unwrap_err()
                .to_string()
                .contains("not logged in")
        );
    }

    #[test]
    fn a_malformed_index_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(tmp.path().to_owned(), Box::new(NoKeyring));
        std::fs::write(store.index_path(), "{not json").unwrap();
        let err = format!("{:#}", store.list().unwrap_err());
        assert!(err.contains(INDEX_FILE), "{err}");
    }
}
