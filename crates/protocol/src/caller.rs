//! The signed caller (docs/protocol.md §7.3): the gateway names who called an endpoint in
//! `Symphony-Caller` and signs that name, the endpoint's subject, the time and the body's digest
//! with the platform's caller-signing key (an ed25519 nkey). Anyone allowed to publish to an
//! endpoint can set `Symphony-Caller`; only the platform can produce a signature the SDKs accept,
//! so an extension may authorize on a caller the SDK reports as verified and on nothing else.
//!
//! `Symphony-Caller-Signature: v1.<issued-at unix seconds>.<base64url ed25519 signature>` over
//! `symphony-caller/v1\n<subject>\n<caller>\n<issued-at>\n<base64url sha256(body)>` (no padding).

use data_encoding::BASE64URL_NOPAD;
use nkeys::KeyPair;
use sha2::{Digest, Sha256};

use crate::error::{ErrorBody, ErrorCode};

/// Who called: a key id, or `user:<name>`.
pub const CALLER_HEADER: &str = "Symphony-Caller";
/// The platform's signature of [`CALLER_HEADER`].
pub const SIGNATURE_HEADER: &str = "Symphony-Caller-Signature";
/// How far a signature's time may be from the verifier's clock, either way (clock skew and queueing).
pub const MAX_SKEW_SECS: i64 = 300;

const VERSION: &str = "v1";

/// The bytes that are signed.
pub fn signed_message(subject: &str, caller: &str, issued_at: i64, body: &[u8]) -> Vec<u8> {
    let digest = BASE64URL_NOPAD.encode(&Sha256::digest(body));
    format!("symphony-caller/{VERSION}\n{subject}\n{caller}\n{issued_at}\n{digest}").into_bytes()
}

/// The [`SIGNATURE_HEADER`] value for a request to `subject` by `caller` at `issued_at`.
pub fn sign(
    key: &KeyPair,
    subject: &str,
    caller: &str,
    issued_at: i64,
    body: &[u8],
) -> Result<String, ErrorBody> {
    let signature = key
        .sign(&signed_message(subject, caller, issued_at, body))
        .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot sign the caller: {e}")))?;
    Ok(format!(
        "{VERSION}.{issued_at}.{}",
        BASE64URL_NOPAD.encode(&signature)
    ))
}

fn invalid(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::InvalidCallerSignature, message)
}

/// Checks `signature` (the [`SIGNATURE_HEADER`] value) for a request to `subject` by `caller` with
/// `body`, against the platform's public caller-signing key, at `now` (unix seconds).
pub fn verify(
    public_key: &str,
    signature: &str,
    subject: &str,
    caller: &str,
    body: &[u8],
    now: i64,
) -> Result<(), ErrorBody> {
    let mut parts = signature.splitn(3, '.');
    let (Some(version), Some(issued_at), Some(sig)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the caller signature is not v1.<time>.<signature>"));
    };
    if version != VERSION {
        return Err(invalid(format!(
            "unknown caller signature version {version:?}"
        )));
    }
    let issued_at: i64 = issued_at
        .parse()
        .ok()
        .filter(|_| issued_at.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| invalid("the caller signature's time is not unix seconds"))?;
    if (now - issued_at).abs() > MAX_SKEW_SECS {
        return Err(invalid(format!(
            "the caller signature is from {issued_at}, more than {MAX_SKEW_SECS} s from now ({now})"
        )));
    }
    let sig = BASE64URL_NOPAD
        .decode(sig.as_bytes())
        .map_err(|_| invalid("the caller signature is not base64url"))?;
    let key = KeyPair::from_public_key(public_key)
        .map_err(|_| invalid("the platform's caller-signing key is not an nkey"))?;
    key.verify(&signed_message(subject, caller, issued_at, body), &sig)
        .map_err(|_| invalid("the caller signature does not match"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_subject_caller_time_and_body() {
        let key = KeyPair::new_from_raw(nkeys::KeyPairType::Server, [7u8; 32]).unwrap();
        let public = key.public_key();
        let header = sign(&key, "cirata.extensions.p.list", "user:ann", 1_000, b"{}").unwrap();
        assert!(
            verify(
                &public,
                &header,
                "cirata.extensions.p.list",
                "user:ann",
                b"{}",
                1_010
            )
            .is_ok()
        );
        for (subject, caller, body, now) in [
            ("cirata.extensions.p.add", "user:ann", &b"{}"[..], 1_010),
            ("cirata.extensions.p.list", "user:admin", b"{}", 1_010),
            ("cirata.extensions.p.list", "user:ann", b"{\"a\":1}", 1_010),
            (
                "cirata.extensions.p.list",
                "user:ann",
                b"{}",
                1_000 + MAX_SKEW_SECS + 1,
            ),
        ] {
            let e = verify(&public, &header, subject, caller, body, now).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidCallerSignature);
        }
        let other = KeyPair::new_from_raw(nkeys::KeyPairType::Server, [8u8; 32]).unwrap();
        let forged = sign(&other, "cirata.extensions.p.list", "user:ann", 1_000, b"{}").unwrap();
        assert!(
            verify(
                &public,
                &forged,
                "cirata.extensions.p.list",
                "user:ann",
                b"{}",
                1_000
            )
            .is_err()
        );
        for malformed in [
            "",
            "v1",
            "v1.1000",
            "v2.1000.AAAA",
            "v1.+1000.AAAA",
            "v1.1000.!!",
        ] {
            assert!(
                verify(&public, malformed, "s", "c", b"", 1_000).is_err(),
                "{malformed}"
            );
        }
    }
}
