//! Runs the cross-language test vectors (`crates/protocol/vectors/*.json`) against this crate.
//!
//! `python/tests/test_vectors.py` runs the same files against the Python SDK, so a rule that changes on one side
//! only fails one of the two. Each case is `{"kind", "input", "ok" | "error", "note"?}`: `ok` is the normalised
//! value (`true` when the check returns nothing), `error` the wire error code. A kind this runner does not know
//! fails the run; nothing is skipped.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use symphony_protocol::address::Address;
use symphony_protocol::capability::{Capability, CapabilityKind, subject_matches};
use symphony_protocol::manifest::{self, BucketSpec, Manifest, Menu, Resource};
use symphony_protocol::names::{self, validate_bucket, validate_prefix};
use symphony_protocol::partition;
use symphony_protocol::token::{self, KeyId, Token};
use symphony_protocol::{ErrorBody, PROTOCOL_VERSION, subjects};

/// What a case expects, or what the crate answered.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Value),
    Error(String),
}

#[derive(Debug)]
struct Case {
    /// `<file>#<index>` and the note, for failure messages.
    origin: String,
    kind: String,
    input: Value,
    expected: Outcome,
}

const CASE_KEYS: &[&str] = &["kind", "input", "ok", "error", "note"];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Reads one vector file; a case of the wrong shape is an error (never skipped).
fn parse_file(name: &str, text: &str) -> Result<Vec<Case>, String> {
    let file: Value = serde_json::from_str(text).map_err(|e| format!("{name}: not JSON: {e}"))?;
    let cases = file
        .get("cases")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name}: no \"cases\" array"))?;
    cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let origin = format!(
                "{name}#{i} ({})",
                case.get("note").and_then(Value::as_str).unwrap_or("")
            );
            let obj = case
                .as_object()
                .ok_or_else(|| format!("{origin}: not an object"))?;
            if let Some(key) = obj.keys().find(|k| !CASE_KEYS.contains(&k.as_str())) {
                return Err(format!("{origin}: unknown key {key:?}"));
            }
            let kind = obj
                .get("kind")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{origin}: no \"kind\""))?;
            let input = obj
                .get("input")
                .cloned()
                .ok_or_else(|| format!("{origin}: no \"input\""))?;
            let expected = match (obj.get("ok"), obj.get("error")) {
                (Some(ok), None) => Outcome::Ok(ok.clone()),
                (None, Some(Value::String(code))) => Outcome::Error(code.clone()),
                _ => {
                    return Err(format!(
                        "{origin}: needs exactly one of \"ok\" or an \"error\" code"
                    ));
                }
            };
            Ok(Case {
                origin,
                kind: kind.to_owned(),
                input,
                expected,
            })
        })
        .collect()
}

fn load_all() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("crates/protocol/vectors")
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no vector files in {:?}", vectors_dir());
    paths
        .iter()
        .flat_map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            parse_file(&name, &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn str_of<'a>(input: &'a Value, key: &str) -> &'a str {
    input[key]
        .as_str()
        .unwrap_or_else(|| panic!("input.{key} must be a string: {input}"))
}

fn from_input<T: serde::de::DeserializeOwned>(input: &Value) -> T {
    serde_json::from_value(input.clone()).unwrap_or_else(|e| panic!("input {input}: {e}"))
}

fn check(result: Result<(), ErrorBody>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok(json!(true)),
        Err(e) => Outcome::Error(e.code.as_str().to_owned()),
    }
}

fn constant(name: &str) -> Option<Value> {
    Some(match name {
        "protocol_version" => json!(PROTOCOL_VERSION),
        "max_prefix_len" => json!(names::MAX_PREFIX_LEN),
        "max_bucket_len" => json!(names::MAX_BUCKET_LEN),
        "reserved_bucket_prefix" => json!(names::RESERVED_BUCKET_PREFIX),
        "max_history_per_key" => json!(manifest::MAX_HISTORY),
        "max_name_len" => json!(manifest::MAX_NAME_LEN),
        "key_id_len" => json!(token::KEY_ID_LEN),
        "secret_len" => json!(token::SECRET_LEN),
        "status_bucket" => json!(subjects::STATUS_BUCKET),
        "mime_types" => json!(manifest::MIME_TYPES),
        "htmx_mime" => json!(manifest::HTMX_MIME),
        _ => return None,
    })
}

/// Runs one case against the crate; `None` for a kind (or constant) this runner does not know.
fn run(kind: &str, input: &Value) -> Option<Outcome> {
    Some(match kind {
        "constant" => Outcome::Ok(constant(input.as_str()?)?),
        "prefix" => check(validate_prefix(input.as_str()?)),
        "bucket" => check(validate_bucket(str_of(input, "bucket"))),
        "bucket_spec" => check(manifest::validate_bucket_spec(&from_input::<BucketSpec>(
            input,
        ))),
        "capability" => check(
            str_of(input, "kind")
                .parse::<CapabilityKind>()
                .and_then(|kind| {
                    Capability::new(kind, str_of(input, "subject"), "")
                        .validate_for(Some(str_of(input, "own_prefix")))
                }),
        ),
        "resource" => check(manifest::validate_resource(
            str_of(input, "prefix"),
            &from_input::<Resource>(input),
        )),
        "route_path" => check(manifest::validate_route_path(input.as_str()?)),
        "extension_name" => check(manifest::validate_name(input.as_str()?)),
        "menu" => check(manifest::validate_menu(&from_input::<Menu>(input))),
        "service_name" => check(manifest::validate_service_name(input.as_str()?)),
        "handler_name" => check(manifest::validate_handler_name("handler", input.as_str()?)),
        "service_version" => match manifest::normalize_service_version(input.as_str()?) {
            Ok(v) => Outcome::Ok(json!(v)),
            Err(e) => Outcome::Error(e.code.as_str().to_owned()),
        },
        "partition_score" => Outcome::Ok(json!(format!(
            "{:016x}",
            partition::score(str_of(input, "member"), str_of(input, "key"))
        ))),
        "partition_owner" => {
            let members: Vec<String> = from_input(&input["members"]);
            Outcome::Ok(json!(partition::owner(&members, str_of(input, "key"))))
        }
        "manifest" => match Manifest::parse(&serde_json::to_vec(input).unwrap()) {
            Ok(m) => Outcome::Ok(serde_json::to_value(m).unwrap()),
            Err(e) => Outcome::Error(e.code.as_str().to_owned()),
        },
        "subject" => {
            let id = |field: &str| KeyId::parse(str_of(input, field)).expect("a valid id");
            Outcome::Ok(json!(match str_of(input, "name") {
                "provision" => subjects::provision(&id("key_id")),
                "register" => subjects::register(&id("key_id"), &id("instance_id")),
                "status" => subjects::status_subject(str_of(input, "prefix"), &id("instance_id")),
                "instance_handler" => subjects::instance_handler_subject(
                    str_of(input, "prefix"),
                    &id("instance_id"),
                    str_of(input, "handler"),
                ),
                "command" => {
                    subjects::command_subject(str_of(input, "prefix"), str_of(input, "command"))
                }
                _ => return None,
            }))
        }
        "subject_match" => Outcome::Ok(json!({
            "matches": subject_matches(str_of(input, "pattern"), str_of(input, "subject"))
        })),
        // The server answers every malformed token with `invalid_token` (docs/protocol.md §1).
        "token" => match Token::parse(input.as_str()?) {
            Ok(t) => Outcome::Ok(json!({
                "origin": t.origin,
                "key_id": t.key_id.as_str(),
                "secret_sha256": t.secret_hash(),
            })),
            Err(_) => Outcome::Error("invalid_token".into()),
        },
        // A bad address is `invalid_address` (docs/protocol.md §1.1).
        "caller_signature" => check(symphony_protocol::caller::verify(
            str_of(input, "public_key"),
            str_of(input, "signature"),
            str_of(input, "subject"),
            str_of(input, "caller"),
            str_of(input, "body").as_bytes(),
            input["now"].as_i64()?,
        )),
        "address" => match resolve(input) {
            Ok(a) => Outcome::Ok(json!({
                "http_base": a.http_base,
                "nats_host": a.nats_host,
                "plaintext": a.is_plaintext(),
            })),
            Err(code) => Outcome::Error(code),
        },
        "nats_url" => match resolve(input) {
            Ok(a) => Outcome::Ok(json!(a.nats_url(str_of(input, "from_key")))),
            Err(code) => Outcome::Error(code),
        },
        _ => return None,
    })
}

fn resolve(input: &Value) -> Result<Address, String> {
    Address::resolve(str_of(input, "origin"), input["override"].as_str())
        .map_err(|_| "invalid_address".to_owned())
}

#[test]
fn every_vector_holds() {
    let cases = load_all();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| match run(&case.kind, &case.input) {
            None => Some(format!(
                "{}: unknown kind {:?} (or input) for this runner",
                case.origin, case.kind
            )),
            Some(got) if got != case.expected => Some(format!(
                "{}: {} {}\n  expected {:?}\n  got      {:?}",
                case.origin, case.kind, case.input, case.expected, got
            )),
            Some(_) => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vector cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn an_unknown_kind_or_shape_is_refused_not_skipped() {
    let unknown = parse_file(
        "t.json",
        r#"{"cases":[{"kind":"frobnicate","input":"x","ok":true}]}"#,
    )
    .unwrap();
    assert_eq!(run(&unknown[0].kind, &unknown[0].input), None);
    assert_eq!(run("constant", &json!("no_such_constant")), None);
    for bad in [
        r#"{"cases":[{"kind":"prefix","input":"a"}]}"#,
        r#"{"cases":[{"kind":"prefix","input":"a","ok":true,"error":"invalid_prefix"}]}"#,
        r#"{"cases":[{"kind":"prefix","input":"a","eror":"invalid_prefix"}]}"#,
        r#"{"cases":[{"input":"a","ok":true}]}"#,
        r#"{"vectors":[]}"#,
    ] {
        assert!(parse_file("t.json", bad).is_err(), "{bad}");
    }
}
