//! The instance's cryptographic identity: operator, accounts, signing key and the key-derivation
//! secret, persisted in `<data-dir>/identity.json` (mode 0600) and shared by replicas.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use nkeys::{KeyPair, KeyPairType};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use symphony_protocol::KeyId;
use symphony_protocol::capability::Permissions;
use symphony_protocol::jwt::{self, AccountLimits, Claims, UserNats};
use symphony_protocol::time::now_unix;

pub const IDENTITY_FILE: &str = "identity.json";

#[derive(Serialize, Deserialize)]
struct IdentityFile {
    version: u32,
    operator_seed: String,
    system_account_seed: String,
    account_seed: String,
    account_signing_seed: String,
    key_derivation_secret: String,
}

/// Loaded key pairs. Never printed: `Debug` is not implemented on purpose.
pub struct Identity {
    pub operator: KeyPair,
    pub system_account: KeyPair,
    /// The platform account: the server's own connection and the platform's state.
    pub platform: KeyPair,
    /// Signs the platform account's users. Derived (not the `account_signing_seed` of
    /// `identity.json`, which signed every user before accounts per extension): user JWTs issued
    /// before that change are refused by nats-server.
    platform_signing: KeyPair,
    key_derivation_secret: [u8; 32],
}

/// The NATS account a user lives in (docs/protocol.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    /// The server and the platform's state; nobody else.
    Platform,
    /// Callers: browser users, API keys without a prefix, registration keys, the gateway.
    Clients,
    /// One extension prefix: its instances and its JetStream.
    Extension(String),
}

impl Account {
    /// The account JWT's `name`.
    pub fn name(&self) -> String {
        match self {
            Account::Platform => "SYMPHONY".into(),
            Account::Clients => "SYMPHONY_CLIENTS".into(),
            Account::Extension(prefix) => format!("ext_{prefix}"),
        }
    }
}

/// Creates `dir` (mode 0700) if needed.
pub fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Writes `contents` to `path` with mode 0600, atomically (temp file + rename).
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    symphony_protocol::private_file::write_private(path, contents)
        .with_context(|| format!("cannot write {}", path.display()))
}

impl Identity {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(IDENTITY_FILE)
    }

    /// Loads the identity of `data_dir`, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Identity> {
        ensure_private_dir(data_dir)?;
        let path = Identity::path(data_dir);
        if path.exists() {
            return Identity::load(data_dir);
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let file = IdentityFile {
            version: 1,
            operator_seed: KeyPair::new_operator().seed()?,
            system_account_seed: KeyPair::new_account().seed()?,
            account_seed: KeyPair::new_account().seed()?,
            account_signing_seed: KeyPair::new_account().seed()?,
            key_derivation_secret: data_encoding::HEXLOWER.encode(&secret),
        };
        write_private_file(&path, &serde_json::to_vec_pretty(&file)?)?;
        tracing::info!(path = %path.display(), "created a new instance identity");
        Identity::load(data_dir)
    }

    /// Loads an existing identity; a missing file is an error that says how to create one.
    pub fn load(data_dir: &Path) -> anyhow::Result<Identity> {
        let path = Identity::path(data_dir);
        let raw = std::fs::read(&path).with_context(|| {
            format!(
                "no identity at {} (run `symphony init --data-dir {}`)",
                path.display(),
                data_dir.display()
            )
        })?;
        let file: IdentityFile = serde_json::from_slice(&raw)
            .with_context(|| format!("{} is not a Symphony identity", path.display()))?;
        if file.version != 1 {
            bail!(
                "{} has unsupported version {}",
                path.display(),
                file.version
            );
        }
        let secret: [u8; 32] = data_encoding::HEXLOWER
            .decode(file.key_derivation_secret.as_bytes())
            .ok()
            .and_then(|v| v.try_into().ok())
            .context("identity key_derivation_secret is malformed")?;
        let load = |seed: &str, what: &str| {
            KeyPair::from_seed(seed).with_context(|| format!("identity {what} is malformed"))
        };
        // The stored signing seed is still checked, so a damaged file is reported, but no longer used.
        load(&file.account_signing_seed, "account_signing_seed")?;
        let platform_signing = KeyPair::new_from_raw(
            KeyPairType::Account,
            derive(&secret, "account:platform:signing"),
        )?;
        Ok(Identity {
            operator: load(&file.operator_seed, "operator_seed")?,
            system_account: load(&file.system_account_seed, "system_account_seed")?,
            platform: load(&file.account_seed, "account_seed")?,
            platform_signing,
            key_derivation_secret: secret,
        })
    }

    pub fn operator_jwt(&self) -> anyhow::Result<String> {
        let claims = jwt::operator_claims(
            &self.operator,
            &self.system_account.public_key(),
            now_unix(),
        );
        Ok(jwt::encode(&claims, &self.operator)?)
    }

    pub fn system_account_jwt(&self) -> anyhow::Result<String> {
        let claims = jwt::account_claims(
            &self.operator,
            &self.system_account.public_key(),
            "SYS",
            AccountLimits::unlimited(false),
            now_unix(),
        );
        Ok(jwt::encode(&claims, &self.operator)?)
    }

    /// 32 bytes derived from the instance secret for `purpose`: HMAC-SHA256(secret, purpose).
    /// Replicas sharing `identity.json` derive the same bytes; nothing derived is stored.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        derive(&self.key_derivation_secret, purpose)
    }

    /// The key pair of `account`. Clients and extension accounts are derived from the instance
    /// secret (`account:clients`, `account:ext:<prefix>`), so every replica has them.
    pub fn account_key(&self, account: &Account) -> anyhow::Result<KeyPair> {
        let purpose = match account {
            Account::Platform => return Ok(KeyPair::from_seed(&self.platform.seed()?)?),
            Account::Clients => "account:clients".to_owned(),
            Account::Extension(prefix) => format!("account:ext:{prefix}"),
        };
        Ok(KeyPair::new_from_raw(
            KeyPairType::Account,
            self.derive(&purpose),
        )?)
    }

    /// The public key of `account`.
    pub fn account_public(&self, account: &Account) -> String {
        match account {
            Account::Platform => self.platform.public_key(),
            other => self
                .account_key(other)
                .map(|k| k.public_key())
                .unwrap_or_default(),
        }
    }

    /// The key that signs the platform account's users (listed in its `signing_keys`).
    pub fn platform_signing_public(&self) -> String {
        self.platform_signing.public_key()
    }

    /// The key the gateway signs `Symphony-Caller` with (docs/protocol.md §7.3), derived from the
    /// instance secret (`caller-signing`): every replica signs alike, and SDKs learn its public half
    /// at the key exchange.
    pub fn caller_signing_key(&self) -> anyhow::Result<KeyPair> {
        Ok(KeyPair::new_from_raw(
            KeyPairType::Server,
            self.derive("caller-signing"),
        )?)
    }

    /// A new instance id for `key` (docs/protocol.md §12.1): 10 random bytes and the first 6 bytes
    /// of HMAC-SHA256(secret, "instance:" | key id | those bytes), so [`Self::is_instance_of`]
    /// tells, with nothing stored, whether an id was minted for a key.
    pub fn mint_instance(&self, key: &KeyId) -> KeyId {
        let mut nonce = [0u8; 10];
        rand::rng().fill_bytes(&mut nonce);
        KeyId::from_bytes(self.instance_bytes(key, nonce))
    }

    fn instance_bytes(&self, key: &KeyId, nonce: [u8; 10]) -> [u8; 16] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key_derivation_secret).expect("any key length");
        mac.update(b"instance:");
        mac.update(key.as_str().as_bytes());
        mac.update(&nonce);
        let tag = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes[..10].copy_from_slice(&nonce);
        bytes[10..].copy_from_slice(&tag[..6]);
        bytes
    }

    /// Whether `instance` was minted for `key` by [`Self::mint_instance`] (on any replica).
    pub fn is_instance_of(&self, key: &KeyId, instance: &KeyId) -> bool {
        let Some(bytes) = instance.to_bytes() else {
            return false;
        };
        let mut nonce = [0u8; 10];
        nonce.copy_from_slice(&bytes[..10]);
        let expected = self.instance_bytes(key, nonce);
        // Constant time: the tag is a MAC.
        expected
            .iter()
            .zip(bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The nkey of a key id: HMAC-SHA256(secret, key id) used as the raw ed25519 seed.
    pub fn user_keypair(&self, key: &KeyId) -> anyhow::Result<KeyPair> {
        Ok(KeyPair::new_from_raw(
            KeyPairType::User,
            self.derive(key.as_str()),
        )?)
    }

    /// Signs a user JWT in `account`. `exp` is unix seconds. Platform users are signed by the
    /// platform's signing key, the others by their account's own key.
    pub fn user_jwt(
        &self,
        account: &Account,
        user: &KeyPair,
        jti: &str,
        name: &str,
        exp: Option<i64>,
        permissions: &Permissions,
    ) -> anyhow::Result<String> {
        self.user_jwt_at(account, user, jti, name, now_unix(), exp, permissions)
    }

    /// [`Identity::user_jwt`] issued at `iat` (unix seconds): a JWT minted in the second of a
    /// revocation of its user is dated just after it, or nats-server would refuse it too.
    #[allow(clippy::too_many_arguments)]
    pub fn user_jwt_at(
        &self,
        account: &Account,
        user: &KeyPair,
        jti: &str,
        name: &str,
        iat: i64,
        exp: Option<i64>,
        permissions: &Permissions,
    ) -> anyhow::Result<String> {
        if *account == Account::Platform {
            let nats = UserNats::with_permissions(Some(&self.platform.public_key()), permissions);
            return sign_user(user, jti, name, iat, exp, nats, &self.platform_signing);
        }
        let nats = UserNats::with_permissions(None, permissions);
        sign_user(user, jti, name, iat, exp, nats, &self.account_key(account)?)
    }

    /// JWT and seed of the server's own user: every subject of the platform account.
    pub fn server_credentials(&self) -> anyhow::Result<(String, KeyPair)> {
        let user = KeyPair::new_user();
        let nats = UserNats::unrestricted(Some(&self.platform.public_key()));
        Ok((
            sign_user(
                &user,
                "",
                "symphony-server",
                now_unix(),
                None,
                nats,
                &self.platform_signing,
            )?,
            user,
        ))
    }

    /// JWT and seed of the gateway's user in `prefix`'s extension account: it calls that
    /// extension's services (`cirata.extensions.<prefix>.>`) and hears the replies, nothing else.
    /// Inside the account, a request crosses no import (docs/protocol.md §7).
    pub fn gateway_credentials(&self, prefix: &str) -> anyhow::Result<(String, KeyPair)> {
        self.service_user(
            &Account::Extension(prefix.to_owned()),
            "symphony-gateway",
            &[symphony_protocol::subjects::extension_services(prefix)],
            symphony_protocol::subjects::GATEWAY_INBOX,
            None,
        )
    }

    /// JWT and seed of the server's user in an extension account: its JetStream API (creating the
    /// declared buckets), writes to the partition view (docs/protocol.md §12.4) and its own inbox,
    /// nothing else. Short-lived.
    pub fn extension_admin_credentials(&self, prefix: &str) -> anyhow::Result<(String, KeyPair)> {
        let view = format!("$KV.{}.>", symphony_protocol::partition::VIEW_BUCKET);
        self.service_user(
            &Account::Extension(prefix.to_owned()),
            "symphony-server",
            &["$JS.API.>".to_owned(), view],
            symphony_protocol::subjects::SERVER_INBOX,
            Some(now_unix() + 300),
        )
    }

    /// A fresh user of the server's own in `account` that may publish to `publish` and hear replies in
    /// its `inbox`.
    fn service_user(
        &self,
        account: &Account,
        name: &str,
        publish: &[String],
        inbox: &str,
        exp: Option<i64>,
    ) -> anyhow::Result<(String, KeyPair)> {
        let user = KeyPair::new_user();
        let permissions = Permissions {
            pub_allow: publish.to_vec(),
            sub_allow: vec![format!("{inbox}.>")],
            allow_responses: false,
        };
        let jwt = self.user_jwt(account, &user, "", name, exp, &permissions)?;
        Ok((jwt, user))
    }

    /// JWT and seed of a system-account user (pushes account JWTs, asks for cluster size).
    pub fn system_credentials(&self) -> anyhow::Result<(String, KeyPair)> {
        let user = KeyPair::new_user();
        let nats = UserNats::unrestricted(None);
        Ok((
            sign_user(
                &user,
                "",
                "symphony-system",
                now_unix(),
                None,
                nats,
                &self.system_account,
            )?,
            user,
        ))
    }
}

fn derive(secret: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Signs the user JWT of `user` with `signer` (an account key or one of its signing keys).
fn sign_user(
    user: &KeyPair,
    jti: &str,
    name: &str,
    iat: i64,
    exp: Option<i64>,
    nats: UserNats,
    signer: &KeyPair,
) -> anyhow::Result<String> {
    let claims = Claims {
        jti: jti.to_owned(),
        iat,
        iss: String::new(),
        sub: user.public_key(),
        name: name.to_owned(),
        exp,
        nats,
    };
    Ok(jwt::encode(&claims, signer)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn identity_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(Identity::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.operator.public_key(), b.operator.public_key());
        assert_eq!(a.platform_signing_public(), b.platform_signing_public());
        let ext = Account::Extension("catalog".into());
        assert_eq!(a.account_public(&ext), b.account_public(&ext));
        assert_ne!(a.account_public(&ext), a.account_public(&Account::Clients));
        assert!(a.account_public(&ext).starts_with('A'));
    }

    #[test]
    fn instance_ids_verify_only_against_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        let (k1, k2) = (KeyId::generate(), KeyId::generate());
        let i1 = id.mint_instance(&k1);
        assert_ne!(i1, id.mint_instance(&k1), "each exchange gets its own");
        assert!(id.is_instance_of(&k1, &i1));
        assert!(!id.is_instance_of(&k2, &i1));
        assert!(!id.is_instance_of(&k1, &k1));
        assert!(!id.is_instance_of(&k1, &KeyId::generate()));
        let other = tempfile::tempdir().unwrap();
        let other = Identity::load_or_create(other.path()).unwrap();
        assert!(!other.is_instance_of(&k1, &i1), "another instance's secret");
    }

    #[test]
    fn user_keys_are_derived_per_key_id() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        let k1 = KeyId::generate();
        let k2 = KeyId::generate();
        assert_eq!(
            id.user_keypair(&k1).unwrap().public_key(),
            id.user_keypair(&k1).unwrap().public_key()
        );
        assert_ne!(
            id.user_keypair(&k1).unwrap().public_key(),
            id.user_keypair(&k2).unwrap().public_key()
        );
        assert!(id.user_keypair(&k1).unwrap().public_key().starts_with('U'));
    }

    #[test]
    fn user_jwts_are_signed_for_their_account() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        let key = KeyId::generate();
        let user = id.user_keypair(&key).unwrap();
        let jwt = id
            .user_jwt(
                &Account::Platform,
                &user,
                key.as_str(),
                "x",
                None,
                &Permissions::default(),
            )
            .unwrap();
        let claims: jwt::UserClaims = jwt::decode(&jwt).unwrap();
        assert_eq!(claims.iss, id.platform_signing_public());
        assert_eq!(claims.nats.issuer_account, id.platform.public_key());
        assert_eq!(claims.jti, key.as_str());
        let ext = Account::Extension("catalog".into());
        let jwt = id
            .user_jwt(
                &ext,
                &user,
                key.as_str(),
                "x",
                None,
                &Permissions::default(),
            )
            .unwrap();
        let claims: jwt::UserClaims = jwt::decode(&jwt).unwrap();
        assert_eq!(claims.iss, id.account_public(&ext));
        assert!(claims.nats.issuer_account.is_empty());
    }

    #[test]
    fn missing_identity_says_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = Identity::load(dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("symphony init"));
    }
}
