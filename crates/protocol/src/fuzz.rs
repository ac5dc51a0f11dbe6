//! A seeded mutation generator for fuzz tests (docs/security.md "Fuzzing"): malformed inputs made
//! from valid ones (byte flips, truncation, repetition, hostile strings, JSON values of the wrong
//! type, deep nesting). Used by the protocol's property tests and `tests/tests/fuzz.rs`; compiled
//! only for tests and with the `fuzz` feature.
//!
//! `SYMPHONY_FUZZ_CASES` multiplies the case counts for a longer campaign; `SYMPHONY_FUZZ_SEED`
//! picks another seed (the default is fixed, so a CI failure reproduces).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// `default` cases, times `SYMPHONY_FUZZ_CASES` when set (e.g. `SYMPHONY_FUZZ_CASES=100`).
pub fn cases(default: usize) -> usize {
    let factor = std::env::var("SYMPHONY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    default * factor.max(1)
}

/// The generator for one test, seeded from `SYMPHONY_FUZZ_SEED` (default 0) and the test's name.
pub fn rng(test: &str) -> StdRng {
    let seed: u64 = std::env::var("SYMPHONY_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let name = test.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    StdRng::seed_from_u64(seed ^ name)
}

/// Strings that break naive code: empty, huge, control characters, wildcards, separators, other
/// scripts, lone surrogates' replacements, numbers, paths.
const HOSTILE: &[&str] = &[
    "",
    " ",
    ".",
    "..",
    "*",
    ">",
    "a.*.>",
    "\0",
    "\u{7f}",
    "\r\n",
    "\u{202e}",
    "é",
    "😀",
    "\u{fffd}",
    "-1",
    "1e309",
    "18446744073709551616",
    "../../etc/passwd",
    "ui://",
    "$SYS.>",
    "_INBOX.x",
    "null",
    "{}",
    "[]",
    "\"",
    "\\",
    "%00",
    "<script>",
];

/// One hostile string, sometimes repeated to a large size.
pub fn hostile_string(rng: &mut StdRng) -> String {
    let s = HOSTILE[rng.random_range(0..HOSTILE.len())];
    match rng.random_range(0..6) {
        0 => s.repeat(rng.random_range(2..5000)),
        1 => "x".repeat(rng.random_range(100..70_000)),
        _ => s.to_owned(),
    }
}

/// A JSON value of a random type (depth-limited), sometimes nested very deep.
pub fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>()),
        4 => json!(hostile_string(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        6 => Value::Object(
            (0..rng.random_range(0..4))
                .map(|_| (hostile_string(rng), random_value(rng, depth + 1)))
                .collect(),
        ),
        _ => {
            // Nesting past serde_json's recursion limit (128).
            let n = rng.random_range(100..400);
            let text = format!("{}{}", "[".repeat(n), "]".repeat(n));
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
    }
}

/// `valid` with one field (at any depth) replaced by a random value, removed, or added.
pub fn mutate_json(rng: &mut StdRng, valid: &Value) -> Value {
    let mut v = valid.clone();
    mutate_in(rng, &mut v);
    v
}

fn mutate_in(rng: &mut StdRng, slot: &mut Value) {
    let descend = rng.random_range(0..3) == 0;
    match slot {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.random_range(0..keys.len())].clone();
            let inner = map.get_mut(&key).expect("present");
            if descend && (inner.is_object() || inner.is_array()) {
                return mutate_in(rng, inner);
            }
            match rng.random_range(0..3) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(hostile_string(rng), random_value(rng, 1));
                }
                _ => {
                    map.insert(key, random_value(rng, 1));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.random_range(0..items.len());
            if descend && (items[i].is_object() || items[i].is_array()) {
                return mutate_in(rng, &mut items[i]);
            }
            items[i] = random_value(rng, 1);
        }
        other => *other = random_value(rng, 1),
    }
}

/// `valid` mutated at the byte level: flipped or inserted bytes, truncated, repeated, or replaced
/// by random bytes.
pub fn mutate_bytes(rng: &mut StdRng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.random_range(0..5) {
        0 if !b.is_empty() => {
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
        }
        1 => b.truncate(rng.random_range(0..=b.len())),
        2 if !b.is_empty() => {
            let i = rng.random_range(0..b.len());
            let piece = b[i..].to_vec();
            for _ in 0..rng.random_range(1..50) {
                b.extend_from_slice(&piece);
            }
        }
        3 => {
            let i = rng.random_range(0..=b.len());
            b.splice(i..i, hostile_string(rng).into_bytes());
        }
        _ => {
            b = (0..rng.random_range(0..512))
                .map(|_| rng.random())
                .collect();
        }
    }
    b
}

/// A malformed input made from `valid`: a JSON-level mutation (as bytes) or a byte-level one.
pub fn malformed(rng: &mut StdRng, valid: &Value) -> Vec<u8> {
    if rng.random::<bool>() {
        serde_json::to_vec(&mutate_json(rng, valid)).expect("a JSON value encodes")
    } else {
        mutate_bytes(
            rng,
            &serde_json::to_vec(valid).expect("a JSON value encodes"),
        )
    }
}

/// Token parsing and manifest validation on malformed inputs: never a panic, always a typed error,
/// and what parses round-trips.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::token::{KeyId, Token};
    use crate::{ErrorCode, messages::ProvisionRequest};

    #[test]
    fn malformed_tokens_are_refused_and_valid_ones_round_trip() {
        let mut rng = rng("tokens");
        let valid = Token::generate("https://symphony.example:8443", KeyId::generate()).encode();
        let n = cases(5000);
        let mut parsed = 0;
        for _ in 0..n {
            let bytes = mutate_bytes(&mut rng, valid.as_bytes());
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(token) = Token::parse(&text) {
                parsed += 1;
                assert_eq!(
                    Token::parse(&token.encode()).unwrap().encode(),
                    token.encode()
                );
            }
            let _ = KeyId::parse(&text);
        }
        assert!(parsed < n, "mutations produce invalid tokens");
        assert!(Token::parse(&valid).is_ok());
    }

    fn manifest() -> Value {
        json!({
            "manifest_version": 1, "name": "Catalog", "prefix": "catalog",
            "capabilities": [{"kind":"sub","subject":"extensions.catalog.list","description":"List"}],
            "resources": [{"uri":"ui://catalog/home","mime_type":"text/symphony-jsx","content":"x"},
                          {"uri":"ui://catalog/help","mime_type":"text/markdown","content":"---\ntitle: x\n---\n# Help"}],
            "routes": [{"path":"/catalog","uri":"ui://catalog/home","routes":[{"path":"/s","uri":"ui://catalog/home"}]}],
            "menus": [{"group":"main","label":"Catalog","route":"/catalog","icon":"fa-book"}],
            "buckets": [{"name":"catalog_items","description":"items"}],
            "services": [], "openapi": []
        })
    }

    #[test]
    fn malformed_manifests_get_a_typed_error_and_valid_ones_round_trip() {
        let mut rng = rng("manifests");
        let valid = manifest();
        Manifest::parse(&serde_json::to_vec(&valid).unwrap()).expect("the seed is valid");
        let allowed = [
            ErrorCode::InvalidManifest,
            ErrorCode::UnsupportedManifestVersion,
            ErrorCode::ManifestTooLarge,
            ErrorCode::InvalidPrefix,
            ErrorCode::InvalidCapability,
            ErrorCode::InvalidBucket,
            ErrorCode::InvalidOpenapi,
            ErrorCode::InvalidEndpoint,
        ];
        let n = cases(3000);
        let mut refused = 0;
        for _ in 0..n {
            let bytes = malformed(&mut rng, &valid);
            match Manifest::parse(&bytes) {
                Ok(m) => {
                    m.validate().expect("a parsed manifest is valid");
                    let again = serde_json::to_vec(&m).unwrap();
                    Manifest::parse(&again).expect("a parsed manifest round-trips");
                }
                Err(e) => {
                    refused += 1;
                    assert!(allowed.contains(&e.code), "{:?}: {}", e.code, e.message);
                    assert!(!e.message.is_empty());
                }
            }
        }
        assert!(
            refused > n / 4,
            "most mutations are refused ({refused}/{n})"
        );
    }

    #[test]
    fn malformed_provision_requests_never_panic_the_decoder() {
        let mut rng = rng("provision");
        let valid = json!({"v": 1, "name": "Catalog", "prefix": "catalog",
            "capabilities": [{"kind": "sub", "subject": "extensions.catalog.>", "description": "all"}],
            "buckets": ["catalog_items"]});
        for _ in 0..cases(3000) {
            let _ = serde_json::from_slice::<ProvisionRequest>(&malformed(&mut rng, &valid));
        }
    }
}
