//! NATS JWTs (operator mode): encoding, verification and the claim shapes nats-server requires
//! (docs/protocol.md §3; `reference/nats-operator-mode.md` has the fields the server insists on).

use std::collections::BTreeMap;

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha512_256};

use crate::capability::Permissions;

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("a JWT has three dot-separated base64url parts")]
    Shape,
    #[error("the JWT header is not {{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}}")]
    Header,
    #[error("the JWT claims are not valid JSON: {0}")]
    Claims(#[from] serde_json::Error),
    #[error("the JWT signature does not verify with its issuer")]
    Signature,
    #[error("nkey error: {0}")]
    Key(String),
}

/// The common JWT envelope; `N` is the `nats` member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims<N> {
    #[serde(default)]
    pub jti: String,
    pub iat: i64,
    pub iss: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub nats: N,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorNats {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u8,
    pub system_account: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountLimits {
    pub subs: i64,
    pub data: i64,
    pub payload: i64,
    pub imports: i64,
    pub exports: i64,
    pub wildcards: bool,
    pub conn: i64,
    pub leaf: i64,
    pub mem_storage: i64,
    pub disk_storage: i64,
    pub streams: i64,
    pub consumer: i64,
}

impl AccountLimits {
    /// No limits; JetStream enabled (unlimited) or disabled.
    pub fn unlimited(jetstream: bool) -> Self {
        let js = if jetstream { -1 } else { 0 };
        AccountLimits::with_jetstream(JetStreamLimits {
            mem_storage: js,
            disk_storage: js,
            streams: js,
            consumer: js,
        })
    }

    /// No connection or message limits, and these JetStream limits (all zero: JetStream disabled).
    pub fn with_jetstream(js: JetStreamLimits) -> Self {
        AccountLimits {
            subs: -1,
            data: -1,
            payload: -1,
            imports: -1,
            exports: -1,
            wildcards: true,
            conn: -1,
            leaf: -1,
            mem_storage: js.mem_storage,
            disk_storage: js.disk_storage,
            streams: js.streams,
            consumer: js.consumer,
        }
    }
}

/// An account's JetStream limits (bytes, counts; -1 is unlimited, all 0 disables JetStream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JetStreamLimits {
    /// File storage in bytes.
    #[cfg_attr(test, ts(type = "number"))]
    pub disk_storage: i64,
    /// Memory storage in bytes.
    #[cfg_attr(test, ts(type = "number"))]
    pub mem_storage: i64,
    /// Number of streams (a KV bucket is one).
    #[cfg_attr(test, ts(type = "number"))]
    pub streams: i64,
    /// Number of consumers.
    #[cfg_attr(test, ts(type = "number"))]
    pub consumer: i64,
}

/// Whether an export or import is a service (request/reply) or a stream (messages one way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    Service,
    Stream,
}

/// `nats.exports[]` of an account JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: ExportKind,
    /// Private: only accounts holding an activation token the exporter issued may import it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub token_req: bool,
    /// `Singleton` for services (one reply per request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
}

impl Export {
    pub fn service(subject: impl Into<String>, private: bool) -> Self {
        Export {
            name: String::new(),
            subject: subject.into(),
            kind: ExportKind::Service,
            token_req: private,
            response_type: Some("Singleton".into()),
        }
    }

    pub fn stream(subject: impl Into<String>, private: bool) -> Self {
        Export {
            name: String::new(),
            subject: subject.into(),
            kind: ExportKind::Stream,
            token_req: private,
            response_type: None,
        }
    }
}

/// `nats.imports[]` of an account JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The exporter's subject.
    pub subject: String,
    /// The exporting account's public key.
    pub account: String,
    /// The activation JWT the exporter issued to this account (private exports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Where the import appears in this account, when it differs from `subject`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_subject: String,
    #[serde(rename = "type")]
    pub kind: ExportKind,
    /// Services only: the exporter learns the requesting user (the `Nats-Request-Info` header).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share: bool,
}

/// The `nats` member of an activation JWT: the exporter (`iss`) lets the importer (`sub`) import
/// `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationNats {
    pub subject: String,
    pub kind: ExportKind,
    #[serde(rename = "type")]
    pub claim_type: String,
    pub version: u8,
}

pub type ActivationClaims = Claims<ActivationNats>;

/// An activation token's claims: `exporter` lets account `importer` import `subject`.
pub fn activation_claims(
    importer: &str,
    subject: &str,
    kind: ExportKind,
    iat: i64,
) -> ActivationClaims {
    Claims {
        jti: String::new(),
        iat,
        iss: String::new(),
        sub: importer.to_owned(),
        name: subject.to_owned(),
        exp: None,
        nats: ActivationNats {
            subject: subject.to_owned(),
            kind,
            claim_type: "activation".into(),
            version: 2,
        },
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountNats {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u8,
    pub limits: AccountLimits,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// User public key → unix time: users issued at or before it are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<Export>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubjectRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl SubjectRule {
    /// An empty allow list means "everything" to nats-server; we turn it into an explicit deny-all.
    fn allow_only(subjects: &[String]) -> Self {
        if subjects.is_empty() {
            SubjectRule {
                allow: vec![],
                deny: vec![">".to_owned()],
            }
        } else {
            SubjectRule {
                allow: subjects.to_vec(),
                deny: vec![],
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponsePermission {
    pub max: i64,
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserNats {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_account: String,
    #[serde(rename = "pub", default)]
    pub publish: SubjectRule,
    #[serde(rename = "sub", default)]
    pub subscribe: SubjectRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
    pub subs: i64,
    pub data: i64,
    pub payload: i64,
    pub bearer_token: bool,
}

impl UserNats {
    /// A user with exactly `permissions`. `issuer_account` is set when a signing key issues the user.
    pub fn with_permissions(issuer_account: Option<&str>, permissions: &Permissions) -> Self {
        UserNats {
            kind: "user".into(),
            version: 2,
            issuer_account: issuer_account.unwrap_or_default().to_owned(),
            publish: SubjectRule::allow_only(&permissions.pub_allow),
            subscribe: SubjectRule::allow_only(&permissions.sub_allow),
            resp: permissions
                .allow_responses
                .then_some(ResponsePermission { max: 1, ttl: 0 }),
            subs: -1,
            data: -1,
            payload: -1,
            bearer_token: false,
        }
    }

    /// A user allowed everything in its account.
    pub fn unrestricted(issuer_account: Option<&str>) -> Self {
        let all = Permissions {
            pub_allow: vec![">".into()],
            sub_allow: vec![">".into()],
            allow_responses: false,
        };
        UserNats::with_permissions(issuer_account, &all)
    }
}

pub type OperatorClaims = Claims<OperatorNats>;
pub type AccountClaims = Claims<AccountNats>;
pub type UserClaims = Claims<UserNats>;

pub fn operator_claims(operator: &KeyPair, system_account: &str, iat: i64) -> OperatorClaims {
    Claims {
        jti: String::new(),
        iat,
        iss: operator.public_key(),
        sub: operator.public_key(),
        name: "symphony".into(),
        exp: None,
        nats: OperatorNats {
            kind: "operator".into(),
            version: 2,
            system_account: system_account.to_owned(),
        },
    }
}

/// An account's claims, signed by `operator`; exports, imports, signing keys and revocations are
/// set by the caller.
pub fn account_claims(
    operator: &KeyPair,
    account_public: &str,
    name: &str,
    limits: AccountLimits,
    iat: i64,
) -> AccountClaims {
    Claims {
        jti: String::new(),
        iat,
        iss: operator.public_key(),
        sub: account_public.to_owned(),
        name: name.to_owned(),
        exp: None,
        nats: AccountNats {
            kind: "account".into(),
            version: 2,
            limits,
            signing_keys: vec![],
            revocations: BTreeMap::new(),
            exports: vec![],
            imports: vec![],
        },
    }
}

/// Signs `claims` with `signer` (which becomes `iss`). A missing `jti` is filled with the
/// base32 SHA-512/256 of the claims, as nats-io/jwt does.
pub fn encode<N: Serialize + Clone>(
    claims: &Claims<N>,
    signer: &KeyPair,
) -> Result<String, JwtError> {
    let mut claims = claims.clone();
    claims.iss = signer.public_key();
    if claims.jti.is_empty() {
        let digest = Sha512_256::digest(serde_json::to_vec(&claims)?);
        claims.jti = BASE32_NOPAD.encode(&digest);
    }
    let head = BASE64URL_NOPAD.encode(HEADER.as_bytes());
    let body = BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims)?);
    let signing_input = format!("{head}.{body}");
    let sig = signer
        .sign(signing_input.as_bytes())
        .map_err(|e| JwtError::Key(e.to_string()))?;
    Ok(format!("{signing_input}.{}", BASE64URL_NOPAD.encode(&sig)))
}

/// Decodes and verifies a JWT against the public key in its own `iss`. Callers check that the
/// issuer is one they trust.
pub fn decode<C: DeserializeOwned>(jwt: &str) -> Result<C, JwtError> {
    let mut parts = jwt.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    let head_json = BASE64URL_NOPAD
        .decode(head.as_bytes())
        .map_err(|_| JwtError::Shape)?;
    let header: serde_json::Value = serde_json::from_slice(&head_json)?;
    if header["alg"] != "ed25519-nkey" || header["typ"] != "JWT" {
        return Err(JwtError::Header);
    }
    let body_json = BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| JwtError::Shape)?;
    let sig = BASE64URL_NOPAD
        .decode(sig.as_bytes())
        .map_err(|_| JwtError::Shape)?;
    let value: serde_json::Value = serde_json::from_slice(&body_json)?;
    let iss = value["iss"].as_str().ok_or(JwtError::Signature)?;
    let issuer = KeyPair::from_public_key(iss).map_err(|e| JwtError::Key(e.to_string()))?;
    issuer
        .verify(format!("{head}.{body}").as_bytes(), &sig)
        .map_err(|_| JwtError::Signature)?;
    Ok(serde_json::from_value(value)?)
}

/// A `.creds` file (the format nats CLI tools read) for a user JWT and seed.
pub fn creds_file(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_claims(account: &str, perms: &Permissions) -> UserClaims {
        let user = KeyPair::new_user();
        Claims {
            jti: "k".repeat(26),
            iat: 1,
            iss: String::new(),
            sub: user.public_key(),
            name: "ext".into(),
            exp: Some(2_000_000_000),
            nats: UserNats::with_permissions(Some(account), perms),
        }
    }

    #[test]
    fn encode_then_decode_round_trips_and_verifies() {
        let account = KeyPair::new_account();
        let signing = KeyPair::new_account();
        let perms = Permissions {
            pub_allow: vec!["a.b".into()],
            sub_allow: vec![],
            allow_responses: true,
        };
        let claims = user_claims(&account.public_key(), &perms);
        let jwt = encode(&claims, &signing).unwrap();
        let back: UserClaims = decode(&jwt).unwrap();
        assert_eq!(back.iss, signing.public_key());
        assert_eq!(back.jti, claims.jti);
        assert_eq!(back.nats.publish.allow, vec!["a.b".to_owned()]);
        // An empty allow list must never mean "everything".
        assert_eq!(back.nats.subscribe.deny, vec![">".to_owned()]);
        assert_eq!(back.nats.resp, Some(ResponsePermission { max: 1, ttl: 0 }));
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let signing = KeyPair::new_account();
        let jwt = encode(&user_claims("A", &Permissions::default()), &signing).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
        claims["nats"]["pub"]["allow"] = serde_json::json!([">"]);
        let forged_body = BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert!(matches!(
            decode::<UserClaims>(&forged),
            Err(JwtError::Signature)
        ));
        assert!(matches!(decode::<UserClaims>("a.b"), Err(JwtError::Shape)));
    }

    #[test]
    fn operator_and_account_claims_have_required_fields() {
        let op = KeyPair::new_operator();
        let acct = KeyPair::new_account();
        let jwt = encode(&operator_claims(&op, &acct.public_key(), 5), &op).unwrap();
        let back: OperatorClaims = decode(&jwt).unwrap();
        assert_eq!(back.nats.version, 2);
        assert!(!back.jti.is_empty());
        let mut a = account_claims(
            &op,
            &acct.public_key(),
            "APP",
            AccountLimits::unlimited(true),
            5,
        );
        a.nats.signing_keys = vec!["Asign".into()];
        a.nats.exports = vec![
            Export::service("svc.>", true),
            Export::stream("ev.>", false),
        ];
        a.nats.imports = vec![Import {
            name: String::new(),
            subject: "x.>".into(),
            account: "AOTHER".into(),
            token: "t".into(),
            local_subject: "y.>".into(),
            kind: ExportKind::Service,
            share: true,
        }];
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v["nats"]["exports"],
            serde_json::json!([
                {"subject": "svc.>", "type": "service", "token_req": true, "response_type": "Singleton"},
                {"subject": "ev.>", "type": "stream"}
            ])
        );
        assert_eq!(
            v["nats"]["imports"][0],
            serde_json::json!({"subject": "x.>", "account": "AOTHER", "token": "t",
                "local_subject": "y.>", "type": "service", "share": true})
        );
        let act = encode(
            &activation_claims(&acct.public_key(), "svc.a", ExportKind::Service, 5),
            &op,
        )
        .unwrap();
        let back: ActivationClaims = decode(&act).unwrap();
        assert_eq!(back.nats.claim_type, "activation");
        assert_eq!(back.sub, acct.public_key());
        let off = serde_json::to_value(AccountLimits::unlimited(false)).unwrap();
        assert_eq!(off["disk_storage"], 0);
        assert_eq!(v["nats"]["limits"]["conn"], -1);
        assert_eq!(v["nats"]["limits"]["disk_storage"], -1);
        assert_eq!(v["nats"]["signing_keys"][0], "Asign");
    }
}
