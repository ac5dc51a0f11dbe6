//! Local users: argon2id password hashes in `symphony_users`, the first administrator, and the user
//! record an OIDC provider can fill in later (`source`, roles from a groups claim).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use symphony_protocol::rbac::ADMIN_ROLE;
use symphony_protocol::rest::UserView;
use symphony_protocol::time::now_rfc3339;
use symphony_protocol::{ErrorBody, ErrorCode};

use crate::bus::table::Table;

/// A user. `password_hash` is empty for users from an external identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub password_hash: String,
    pub roles: Vec<String>,
    /// `local`, later `oidc`.
    pub source: String,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        UserView {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            roles: u.roles.clone(),
            source: u.source.clone(),
            disabled: u.disabled,
            created_at: u.created_at.clone(),
        }
    }
}

pub fn validate_password(password: &str) -> Result<(), ErrorBody> {
    if password.chars().count() >= 12 {
        Ok(())
    } else {
        Err(
            ErrorBody::new(ErrorCode::InvalidRequest, "the password is too short")
                .with_hint("use at least 12 characters"),
        )
    }
}

/// argon2id with the crate's defaults (19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hash: {e}"))?
        .to_string())
}

/// Verifies a password; an empty or malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the user does not exist, so both cases take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("not a real password, only a timing decoy").unwrap_or_default()
    })
}

/// A generated administrator password: 24 characters of base32.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

/// The `symphony_users` bucket.
#[derive(Clone)]
pub struct UserStore {
    table: Table<UserRecord>,
}

impl UserStore {
    pub fn new(table: Table<UserRecord>) -> Self {
        UserStore { table }
    }

    /// From memory when mirrored; a user another replica just created is read from NATS.
    pub async fn get(&self, username: &str) -> anyhow::Result<Option<UserRecord>> {
        Ok(self.get_shared(username).await?.map(|u| (*u).clone()))
    }

    /// [`UserStore::get`] without a copy (every signed-in request reads one).
    pub async fn get_shared(&self, username: &str) -> anyhow::Result<Option<Arc<UserRecord>>> {
        Ok(self.table.read_or_fetch(username).await?.map(|u| u.value))
    }

    /// Creates a user; `Ok(false)` when the name is taken.
    pub async fn create(&self, user: &UserRecord) -> anyhow::Result<bool> {
        Ok(self
            .table
            .create(&user.username, user.clone())
            .await?
            .is_some())
    }

    pub async fn put(&self, user: &UserRecord) -> anyhow::Result<()> {
        self.table.put(&user.username, user.clone()).await?;
        Ok(())
    }

    pub async fn delete(&self, username: &str) -> anyhow::Result<()> {
        self.table.purge(username).await
    }

    /// Every user, by name.
    pub async fn list(&self) -> anyhow::Result<Vec<UserRecord>> {
        Ok(self
            .table
            .all()
            .await?
            .into_iter()
            .map(|(_, u)| (*u.value).clone())
            .collect())
    }

    /// On first start: creates `admin` with `password` or a generated one, which is returned once to
    /// be printed. `None` when an administrator already exists (or another replica made it).
    pub async fn ensure_admin(&self, password: Option<String>) -> anyhow::Result<Option<String>> {
        if self.get("admin").await?.is_some() {
            return Ok(None);
        }
        let generated = password.is_none();
        let password = password.unwrap_or_else(generate_password);
        let admin = UserRecord {
            username: "admin".into(),
            display_name: "Administrator".into(),
            password_hash: hash_password(&password)?,
            roles: vec![ADMIN_ROLE.into()],
            source: "local".into(),
            disabled: false,
            created_at: now_rfc3339(),
        };
        if !self.create(&admin).await? {
            return Ok(None);
        }
        Ok(generated.then_some(password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", ""));
        assert!(!verify_password("x", dummy_hash()));
    }

    #[test]
    fn passwords() {
        assert!(validate_password("short").is_err());
        assert!(validate_password(&generate_password()).is_ok());
    }
}
