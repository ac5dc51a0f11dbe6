//! Tokens: `<origin-b32>.<key-id>.<secret>` (docs/protocol.md §1).

use std::fmt;

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Length of a key id in characters (128 bits of lowercase base32).
pub const KEY_ID_LEN: usize = 26;
/// Length of the decoded token secret in bytes.
pub const SECRET_LEN: usize = 32;

/// Why a token could not be parsed. The server maps all of them to `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("a token has three dot-separated parts (origin, key id, secret)")]
    Shape,
    #[error("the token's origin is not valid base32 of an http(s) URL")]
    Origin,
    #[error("the token's key id is malformed")]
    KeyId,
    #[error("the token's secret is malformed")]
    Secret,
}

/// A key id: also the NATS JWT `jti` and the instance id of an extension running with the key.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// A fresh random key id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        KeyId::from_bytes(bytes)
    }

    /// The id spelling 16 bytes (lowercase base32, no padding).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        KeyId(BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
    }

    /// The 16 bytes the id spells, if it is the canonical spelling of any.
    pub fn to_bytes(&self) -> Option<[u8; 16]> {
        BASE32_NOPAD
            .decode(self.0.to_ascii_uppercase().as_bytes())
            .ok()?
            .try_into()
            .ok()
    }

    /// Validates a key id read from the wire.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let ok = s.len() == KEY_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        if ok {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(TokenError::KeyId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = TokenError;
    fn try_from(s: String) -> Result<Self, TokenError> {
        KeyId::parse(&s)
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        k.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed token. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub origin: String,
    pub key_id: KeyId,
    secret: [u8; SECRET_LEN],
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("origin", &self.origin)
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Token {
    /// A fresh token for `key_id` issued by the instance at `origin` (e.g. `http://localhost:8080`).
    pub fn generate(origin: &str, key_id: KeyId) -> Self {
        let mut secret = [0u8; SECRET_LEN];
        rand::rng().fill_bytes(&mut secret);
        Token {
            origin: origin.trim_end_matches('/').to_owned(),
            key_id,
            secret,
        }
    }

    /// Parses `<origin-b32>.<key-id>.<secret>`.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let mut parts = s.trim().split('.');
        let (Some(origin), Some(key_id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Shape);
        };
        let origin_bytes = BASE32_NOPAD
            .decode(origin.to_ascii_uppercase().as_bytes())
            .map_err(|_| TokenError::Origin)?;
        let origin = String::from_utf8(origin_bytes).map_err(|_| TokenError::Origin)?;
        let parsed = url::Url::parse(&origin).map_err(|_| TokenError::Origin)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(TokenError::Origin);
        }
        let key_id = KeyId::parse(key_id)?;
        let secret: [u8; SECRET_LEN] = BASE64URL_NOPAD
            .decode(secret.as_bytes())
            .map_err(|_| TokenError::Secret)?
            .try_into()
            .map_err(|_| TokenError::Secret)?;
        Ok(Token {
            origin,
            key_id,
            secret,
        })
    }

    /// The wire form. Treat it as a secret.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            BASE32_NOPAD
                .encode(self.origin.as_bytes())
                .to_ascii_lowercase(),
            self.key_id,
            BASE64URL_NOPAD.encode(&self.secret)
        )
    }

    /// Hex sha256 of the secret: the only form the server stores.
    pub fn secret_hash(&self) -> String {
        hex_sha256(&self.secret)
    }

    /// Constant-time comparison of this token's secret with a stored hash.
    pub fn matches_hash(&self, stored_hex: &str) -> bool {
        let ours = self.secret_hash();
        ours.len() == stored_hex.len()
            && ours
                .bytes()
                .zip(stored_hex.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_origin_key_and_secret() {
        let t = Token::generate("http://localhost:8080/", KeyId::generate());
        let parsed = Token::parse(&t.encode()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(parsed.origin, "http://localhost:8080");
        assert!(parsed.matches_hash(&t.secret_hash()));
    }

    #[test]
    fn first_segment_is_lowercase_base32_of_the_origin() {
        let t = Token::generate("http://localhost:8080", KeyId::generate());
        let first = t.encode().split('.').next().unwrap().to_owned();
        assert_eq!(
            first,
            BASE32_NOPAD
                .encode(b"http://localhost:8080")
                .to_ascii_lowercase()
        );
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        let good = Token::generate("https://s.example.com", KeyId::generate()).encode();
        let parts: Vec<&str> = good.split('.').collect();
        assert_eq!(Token::parse("abc"), Err(TokenError::Shape));
        assert_eq!(Token::parse(&format!("{good}.x")), Err(TokenError::Shape));
        assert_eq!(
            Token::parse(&format!("!!.{}.{}", parts[1], parts[2])),
            Err(TokenError::Origin)
        );
        let ftp = BASE32_NOPAD.encode(b"ftp://x").to_ascii_lowercase();
        assert_eq!(
            Token::parse(&format!("{ftp}.{}.{}", parts[1], parts[2])),
            Err(TokenError::Origin)
        );
        assert_eq!(
            Token::parse(&format!("{}.short.{}", parts[0], parts[2])),
            Err(TokenError::KeyId)
        );
        assert_eq!(
            Token::parse(&format!("{}.{}.AAAA", parts[0], parts[1])),
            Err(TokenError::Secret)
        );
    }

    #[test]
    fn tampered_secret_does_not_match_the_stored_hash() {
        let t = Token::generate("http://h:1", KeyId::generate());
        let other = Token::generate("http://h:1", t.key_id.clone());
        assert!(!other.matches_hash(&t.secret_hash()));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let t = Token::generate("http://h:1", KeyId::generate());
        let secret_part = t.encode().rsplit('.').next().unwrap().to_owned();
        assert!(!format!("{t:?}").contains(&secret_part));
    }
}
