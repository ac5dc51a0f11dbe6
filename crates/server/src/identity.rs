//! The instance's cryptographic identity: operator, accounts, signing key and the key-derivation
//! secret, persisted in `<data-dir>/identity.json` (mode 0600) and shared by replicas.

use std::collections::BTreeMap;
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
use symphony_protocol::jwt::{self, Claims, UserNats};
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
    pub account: KeyPair,
    pub account_signing: KeyPair,
    key_derivation_secret: [u8; 32],
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
        Ok(Identity {
            operator: load(&file.operator_seed, "operator_seed")?,
            system_account: load(&file.system_account_seed, "system_account_seed")?,
            account: load(&file.account_seed, "account_seed")?,
            account_signing: load(&file.account_signing_seed, "account_signing_seed")?,
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
            vec![],
            false,
            BTreeMap::new(),
            now_unix(),
        );
        Ok(jwt::encode(&claims, &self.operator)?)
    }

    /// The application account JWT with the given revocations.
    pub fn account_jwt(&self, revocations: BTreeMap<String, i64>) -> anyhow::Result<String> {
        let claims = jwt::account_claims(
            &self.operator,
            &self.account.public_key(),
            "SYMPHONY",
            vec![self.account_signing.public_key()],
            true,
            revocations,
            now_unix(),
        );
        Ok(jwt::encode(&claims, &self.operator)?)
    }

    /// 32 bytes derived from the instance secret for `purpose`: HMAC-SHA256(secret, purpose).
    /// Replicas sharing `identity.json` derive the same bytes; nothing derived is stored.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key_derivation_secret).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The nkey of a key id: HMAC-SHA256(secret, key id) used as the raw ed25519 seed.
    pub fn user_keypair(&self, key: &KeyId) -> anyhow::Result<KeyPair> {
        Ok(KeyPair::new_from_raw(
            KeyPairType::User,
            self.derive(key.as_str()),
        )?)
    }

    /// Signs a user JWT in the application account. `exp` is unix seconds.
    pub fn user_jwt(
        &self,
        user: &KeyPair,
        jti: &str,
        name: &str,
        exp: Option<i64>,
        permissions: &Permissions,
    ) -> anyhow::Result<String> {
        let nats = UserNats::with_permissions(Some(&self.account.public_key()), permissions);
        sign_user(user, jti, name, exp, nats, &self.account_signing)
    }

    /// JWT and seed of the server's own user: every subject of the application account.
    pub fn server_credentials(&self) -> anyhow::Result<(String, KeyPair)> {
        let user = KeyPair::new_user();
        let nats = UserNats::unrestricted(Some(&self.account.public_key()));
        Ok((
            sign_user(
                &user,
                "",
                "symphony-server",
                None,
                nats,
                &self.account_signing,
            )?,
            user,
        ))
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
                None,
                nats,
                &self.system_account,
            )?,
            user,
        ))
    }
}

/// Signs the user JWT of `user` with `signer` (an account key or one of its signing keys).
fn sign_user(
    user: &KeyPair,
    jti: &str,
    name: &str,
    exp: Option<i64>,
    nats: UserNats,
    signer: &KeyPair,
) -> anyhow::Result<String> {
    let claims = Claims {
        jti: jti.to_owned(),
        iat: now_unix(),
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
        assert_eq!(
            a.account_signing.public_key(),
            b.account_signing.public_key()
        );
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
    fn user_jwt_is_signed_by_the_signing_key_for_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        let key = KeyId::generate();
        let user = id.user_keypair(&key).unwrap();
        let jwt = id
            .user_jwt(&user, key.as_str(), "x", None, &Permissions::default())
            .unwrap();
        let claims: jwt::UserClaims = jwt::decode(&jwt).unwrap();
        assert_eq!(claims.iss, id.account_signing.public_key());
        assert_eq!(claims.nats.issuer_account, id.account.public_key());
        assert_eq!(claims.jti, key.as_str());
    }

    #[test]
    fn missing_identity_says_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = Identity::load(dir.path()).err().unwrap();
        assert!(format!("{err:#}").contains("symphony init"));
    }
}
