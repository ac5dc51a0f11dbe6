//! Licenses, units and enforcement (issue 14): the pure core the server, the CLI and the vendor tool
//! build on. A license is a JSON document a vendor signs with an Ed25519 nkey; it is locked to one
//! deployment, holds a pool of units and the rates that turn an extension's usage dimensions into
//! units. Which license a report is charged to and what the enforcement state is are decided here,
//! from the licenses, what they have consumed, and the time; the server only stores and broadcasts.
//!
//! The server stores licenses and broadcasts enforcement (`crates/server/src/licensing`); `report_usage`
//! (charging) is not wired yet.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ErrorCode;
use crate::time::parse_rfc3339;

/// Version of the license document.
pub const LICENSE_VERSION: u32 = 1;
/// At or above this share of the licensed units consumed, enforcement is `enforcement_warning`.
pub const WARNING_SHARE: f64 = 0.9;

/// What a vendor licenses to one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct License {
    pub v: u32,
    /// 1-64 of `[A-Za-z0-9_.-]`.
    pub id: String,
    pub customer: String,
    /// The deployment it is locked to ([`deployment_id`]).
    pub deployment: String,
    /// RFC 3339.
    pub issued_at: String,
    pub starts_at: String,
    pub expires_at: String,
    /// How long after expiry or exhaustion the license still carries (grace), in seconds.
    #[serde(default)]
    pub grace_secs: u64,
    /// The pool of units.
    pub units: f64,
    /// Units per unit of a dimension, by extension prefix and dimension name.
    pub rates: BTreeMap<String, BTreeMap<String, f64>>,
}

/// What is uploaded: the license's JSON bytes (base64url), the vendor's signature of those bytes, and
/// the vendor's public key. Signing the bytes as sent needs no JSON canonicalization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedLicense {
    pub payload: String,
    pub signature: String,
    pub vendor_key: String,
}

/// Why a license is refused (each a typed error code on the wire).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LicenseError {
    #[error("the license is malformed: {0}")]
    Malformed(String),
    #[error("the license is signed by a vendor key this server does not trust")]
    UnknownVendor,
    #[error("the license's signature does not verify")]
    BadSignature,
    #[error("the license is for deployment {theirs}, this is {ours}")]
    OtherDeployment { ours: String, theirs: String },
}

impl LicenseError {
    /// The stable code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            LicenseError::Malformed(_) => ErrorCode::InvalidLicense,
            LicenseError::UnknownVendor => ErrorCode::UnknownVendorKey,
            LicenseError::BadSignature => ErrorCode::BadLicenseSignature,
            LicenseError::OtherDeployment { .. } => ErrorCode::LicenseOtherDeployment,
        }
    }
}

/// The deployment id of the instance whose operator has `operator_public` as its public key:
/// `dep_` and the first 20 characters (lowercase base32) of `SHA-256("symphony-deployment:" | key)`.
pub fn deployment_id(operator_public: &str) -> String {
    let digest = Sha256::digest(format!("symphony-deployment:{operator_public}").as_bytes());
    let b32 = BASE32_NOPAD.encode(&digest).to_ascii_lowercase();
    format!("dep_{}", &b32[..20])
}

fn malformed(why: impl Into<String>) -> LicenseError {
    LicenseError::Malformed(why.into())
}

impl License {
    /// Checks the document on its own: version, id, times in order, a positive pool, rates that are
    /// finite and not negative.
    pub fn validate(&self) -> Result<(), LicenseError> {
        if self.v != LICENSE_VERSION {
            return Err(malformed(format!(
                "version {} (this server reads {LICENSE_VERSION})",
                self.v
            )));
        }
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !id_ok {
            return Err(malformed("id must be 1-64 of A-Z, a-z, 0-9, _, . and -"));
        }
        let (issued, starts, expires) = self.times()?;
        if starts >= expires || issued > expires {
            return Err(malformed(
                "starts_at must be before expires_at, issued_at not after it",
            ));
        }
        if !(self.units.is_finite() && self.units > 0.0) {
            return Err(malformed("units must be a positive number"));
        }
        for (prefix, dims) in &self.rates {
            crate::names::validate_prefix(prefix)
                .map_err(|_| malformed(format!("rates name an invalid prefix {prefix:.40?}")))?;
            for (dim, rate) in dims {
                if dim.is_empty() || !(rate.is_finite() && *rate >= 0.0) {
                    return Err(malformed(format!(
                        "rate {prefix}.{dim:.40} must be a number ≥ 0"
                    )));
                }
            }
        }
        Ok(())
    }

    /// `(issued, starts, expires)` in unix seconds.
    fn times(&self) -> Result<(i64, i64, i64), LicenseError> {
        let t = |name: &str, v: &str| {
            parse_rfc3339(v).ok_or_else(|| malformed(format!("{name} is not an RFC 3339 time")))
        };
        Ok((
            t("issued_at", &self.issued_at)?,
            t("starts_at", &self.starts_at)?,
            t("expires_at", &self.expires_at)?,
        ))
    }

    fn expires(&self) -> i64 {
        parse_rfc3339(&self.expires_at).unwrap_or(i64::MIN)
    }

    fn issued(&self) -> i64 {
        parse_rfc3339(&self.issued_at).unwrap_or(i64::MIN)
    }

    fn starts(&self) -> i64 {
        parse_rfc3339(&self.starts_at).unwrap_or(i64::MAX)
    }
}

/// Signs `license` with the vendor's nkey (the vendor tool's half).
pub fn sign(license: &License, vendor: &KeyPair) -> Result<SignedLicense, LicenseError> {
    license.validate()?;
    let bytes = serde_json::to_vec(license).map_err(|e| malformed(e.to_string()))?;
    let signature = vendor
        .sign(&bytes)
        .map_err(|e| malformed(format!("cannot sign: {e}")))?;
    Ok(SignedLicense {
        payload: BASE64URL_NOPAD.encode(&bytes),
        signature: BASE64URL_NOPAD.encode(&signature),
        vendor_key: vendor.public_key(),
    })
}

/// Verifies an uploaded license: a vendor key in `trusted`, a signature of the payload by it, a valid
/// document, and `deployment` (this instance's [`deployment_id`]).
pub fn verify(
    signed: &SignedLicense,
    trusted: &[String],
    deployment: &str,
) -> Result<License, LicenseError> {
    if !trusted.contains(&signed.vendor_key) {
        return Err(LicenseError::UnknownVendor);
    }
    let bytes = BASE64URL_NOPAD
        .decode(signed.payload.as_bytes())
        .map_err(|_| malformed("payload is not base64url"))?;
    let signature = BASE64URL_NOPAD
        .decode(signed.signature.as_bytes())
        .map_err(|_| LicenseError::BadSignature)?;
    let key =
        KeyPair::from_public_key(&signed.vendor_key).map_err(|_| LicenseError::UnknownVendor)?;
    key.verify(&bytes, &signature)
        .map_err(|_| LicenseError::BadSignature)?;
    let license: License =
        serde_json::from_slice(&bytes).map_err(|e| malformed(format!("not a license: {e}")))?;
    license.validate()?;
    if license.deployment != deployment {
        return Err(LicenseError::OtherDeployment {
            ours: deployment.to_owned(),
            theirs: license.deployment.clone(),
        });
    }
    Ok(license)
}

/// A report's units under `rates` (one license's rates for the reporting prefix): `Σ dimension ×
/// rate`, and the dimensions no rate covers (they put the extension into `disabled_extensions`).
pub fn units(
    rates: Option<&BTreeMap<String, f64>>,
    dimensions: &BTreeMap<String, f64>,
) -> (f64, Vec<String>) {
    let mut total = 0.0;
    let mut unrated = Vec::new();
    for (dim, value) in dimensions {
        match rates.and_then(|r| r.get(dim)) {
            Some(rate) => total += value * rate,
            None => unrated.push(dim.clone()),
        }
    }
    (total, unrated)
}

/// A license as the server holds it: the document and what it has carried so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub license: License,
    /// Units charged to it.
    pub consumed: f64,
    /// When its pool ran out (unix seconds), if it has: grace runs from then.
    pub exhausted_at: Option<i64>,
    /// Revoked by an administrator.
    #[serde(default)]
    pub revoked: bool,
}

/// A license's state at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// Before `starts_at`.
    NotStarted,
    Active,
    /// Expired or exhausted, within its grace period.
    Grace,
    Expired,
    Revoked,
}

impl Held {
    pub fn new(license: License) -> Held {
        Held {
            license,
            consumed: 0.0,
            exhausted_at: None,
            revoked: false,
        }
    }

    /// The state at `now` (unix seconds). Grace runs from the expiry or the exhaustion, whichever
    /// came first.
    pub fn state(&self, now: i64) -> LicenseState {
        if self.revoked {
            return LicenseState::Revoked;
        }
        if now < self.license.starts() {
            return LicenseState::NotStarted;
        }
        let expires = self.license.expires();
        let exhausted = self
            .exhausted_at
            .filter(|_| self.consumed >= self.license.units);
        let ended = match exhausted {
            Some(at) => at.min(expires),
            None => expires,
        };
        if now < ended {
            LicenseState::Active
        } else if now < ended.saturating_add(self.license.grace_secs as i64) {
            LicenseState::Grace
        } else {
            LicenseState::Expired
        }
    }

    /// The first instant after `now` (unix seconds) at which [`Held::state`] may change with time
    /// alone: the start, the end (expiry or exhaustion), the end of the grace period. `None` when
    /// nothing is left to happen (revoked, or past its grace period).
    pub fn next_change(&self, now: i64) -> Option<i64> {
        if self.revoked {
            return None;
        }
        let expires = self.license.expires();
        let ended = match self
            .exhausted_at
            .filter(|_| self.consumed >= self.license.units)
        {
            Some(at) => at.min(expires),
            None => expires,
        };
        [
            self.license.starts(),
            ended,
            ended.saturating_add(self.license.grace_secs as i64),
        ]
        .into_iter()
        .filter(|t| *t > now)
        .min()
    }

    fn rates_for(&self, prefix: &str) -> Option<&BTreeMap<String, f64>> {
        self.license.rates.get(prefix)
    }

    fn left(&self) -> f64 {
        (self.license.units - self.consumed).max(0.0)
    }
}

/// Charging order: the soonest-expiring first, equal expiry the earlier issued, then the id.
fn charge_order(a: &Held, b: &Held) -> Ordering {
    (a.license.expires(), a.license.issued(), &a.license.id).cmp(&(
        b.license.expires(),
        b.license.issued(),
        &b.license.id,
    ))
}

/// What a report is charged: per license (index into the slice) the units it carries. The licenses
/// that can carry `prefix` at `now` are the active ones with a rate for it; each takes what its pool
/// has left, soonest-expiring first, and the rest overflows to the next. What none has room for is
/// charged to the last of them — or, with none active, to the soonest-expiring one in grace — so its
/// pool goes over ("Units Over"); if no license active or in grace rates `prefix`, nothing is charged.
pub fn charge(held: &[Held], prefix: &str, units: f64, now: i64) -> Vec<(usize, f64)> {
    let rating = |state: LicenseState| {
        let mut found: Vec<usize> = (0..held.len())
            .filter(|&i| held[i].state(now) == state && held[i].rates_for(prefix).is_some())
            .collect();
        found.sort_by(|&a, &b| charge_order(&held[a], &held[b]));
        found
    };
    let mut candidates = rating(LicenseState::Active);
    if candidates.is_empty() {
        candidates = rating(LicenseState::Grace).into_iter().take(1).collect();
    }
    let mut out: Vec<(usize, f64)> = Vec::new();
    let mut rest = units;
    for &i in &candidates {
        if rest <= 0.0 {
            break;
        }
        let take = rest.min(held[i].left());
        if take > 0.0 {
            out.push((i, take));
            rest -= take;
        }
    }
    if rest > 0.0
        && let Some(&last) = candidates.last()
    {
        match out.iter_mut().find(|(i, _)| *i == last) {
            Some((_, u)) => *u += rest,
            None => out.push((last, rest)),
        }
    }
    out
}

/// Applies a charge: adds the units and records exhaustion at `now`.
pub fn apply(held: &mut [Held], charged: &[(usize, f64)], now: i64) {
    for &(i, u) in charged {
        let h = &mut held[i];
        h.consumed += u;
        if h.consumed >= h.license.units && h.exhausted_at.is_none() {
            h.exhausted_at = Some(now);
        }
    }
}

/// The first instant after `now` at which any license's state may change with time alone
/// ([`Held::next_change`]): when the enforcement state must be computed again without a request.
pub fn next_change(held: &[Held], now: i64) -> Option<i64> {
    held.iter().filter_map(|h| h.next_change(now)).min()
}

/// The enforcement state (the seed's object: `status`, `message`, `disabled_extensions`,
/// `grace_extensions`, and the pool figures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enforcement {
    pub status: String,
    pub message: String,
    pub disabled_extensions: Vec<String>,
    pub grace_extensions: Vec<String>,
    /// Units of the active licenses, and what they have consumed.
    pub units_licensed: f64,
    pub units_consumed: f64,
}

/// The enforcement state at `now`. `unrated` are the prefixes that reported a dimension no license
/// rates (they are disabled); `reporting` are the prefixes that have reported at all (each is checked
/// for an active license that rates it).
pub fn enforcement(
    held: &[Held],
    reporting: &BTreeSet<String>,
    unrated: &BTreeSet<String>,
    now: i64,
) -> Enforcement {
    let states: Vec<LicenseState> = held.iter().map(|h| h.state(now)).collect();
    let active: Vec<&Held> = held
        .iter()
        .zip(&states)
        .filter(|(_, s)| **s == LicenseState::Active)
        .map(|(h, _)| h)
        .collect();
    let in_grace = states.contains(&LicenseState::Grace);
    let units_licensed: f64 = active.iter().map(|h| h.license.units).sum();
    let units_consumed: f64 = active.iter().map(|h| h.consumed).sum();
    let (status, message) = if active.is_empty() && in_grace {
        (
            "enforcement_grace",
            "licensed units are exhausted or the license expired; the grace period is running"
                .to_owned(),
        )
    } else if active.is_empty() {
        ("enforcement_enforced", "no valid license".to_owned())
    } else if units_consumed >= WARNING_SHARE * units_licensed {
        (
            "enforcement_warning",
            format!(
                "{:.0} % of the licensed units consumed",
                100.0 * units_consumed / units_licensed
            ),
        )
    } else {
        ("enforcement_ok", String::new())
    };
    let rated_by = |prefix: &str, state: LicenseState| {
        held.iter()
            .zip(&states)
            .any(|(h, s)| *s == state && h.rates_for(prefix).is_some())
    };
    let mut disabled: BTreeSet<String> = unrated.clone();
    let mut grace = BTreeSet::new();
    for prefix in reporting {
        if rated_by(prefix, LicenseState::Active) {
            continue;
        }
        if rated_by(prefix, LicenseState::Grace) {
            grace.insert(prefix.clone());
        } else {
            disabled.insert(prefix.clone());
        }
    }
    Enforcement {
        status: status.to_owned(),
        message,
        disabled_extensions: disabled.into_iter().collect(),
        grace_extensions: grace.into_iter().collect(),
        units_licensed,
        units_consumed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::rfc3339;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_800_000_000;

    fn license(id: &str, units: f64, expires_in_days: i64, issued: i64) -> License {
        License {
            v: LICENSE_VERSION,
            id: id.into(),
            customer: "Acme".into(),
            deployment: deployment_id("OABC"),
            issued_at: rfc3339(issued),
            starts_at: rfc3339(T0 - DAY),
            expires_at: rfc3339(T0 + expires_in_days * DAY),
            grace_secs: (7 * DAY) as u64,
            units,
            rates: BTreeMap::from([(
                "repl".to_owned(),
                BTreeMap::from([("tables".to_owned(), 2.0), ("gb".to_owned(), 0.5)]),
            )]),
        }
    }

    fn vendor() -> KeyPair {
        KeyPair::new_from_raw(nkeys::KeyPairType::Operator, [3u8; 32]).unwrap()
    }

    #[test]
    fn a_signed_license_verifies_and_every_tampering_is_refused() {
        let vendor = vendor();
        let trusted = vec![vendor.public_key()];
        let ours = deployment_id("OABC");
        let lic = license("lic-1", 100.0, 30, T0 - DAY);
        let signed = sign(&lic, &vendor).unwrap();
        assert_eq!(verify(&signed, &trusted, &ours).unwrap(), lic);

        // Another payload under the old signature.
        let mut more = lic.clone();
        more.units = 1e9;
        let mut tampered = signed.clone();
        tampered.payload = BASE64URL_NOPAD.encode(&serde_json::to_vec(&more).unwrap());
        assert_eq!(
            verify(&tampered, &trusted, &ours),
            Err(LicenseError::BadSignature)
        );
        // Signed by a key this server does not trust, or one claiming a trusted key.
        let stranger = KeyPair::new_from_raw(nkeys::KeyPairType::Operator, [4u8; 32]).unwrap();
        let foreign = sign(&lic, &stranger).unwrap();
        assert_eq!(
            verify(&foreign, &trusted, &ours),
            Err(LicenseError::UnknownVendor)
        );
        let mut claimed = foreign.clone();
        claimed.vendor_key = vendor.public_key();
        assert_eq!(
            verify(&claimed, &trusted, &ours),
            Err(LicenseError::BadSignature)
        );
        // Another deployment.
        let theirs = verify(&signed, &trusted, &deployment_id("OTHER")).unwrap_err();
        assert_eq!(theirs.code().as_str(), "license_other_deployment");
        // Garbage.
        let mut garbage = signed.clone();
        garbage.payload = "%%%".into();
        assert_eq!(
            verify(&garbage, &trusted, &ours)
                .unwrap_err()
                .code()
                .as_str(),
            "invalid_license"
        );
    }

    #[test]
    fn invalid_documents_are_refused_before_signing() {
        let vendor = vendor();
        let mut bad = license("lic 1", 100.0, 30, T0);
        assert!(sign(&bad, &vendor).is_err(), "an id with a space");
        bad = license("lic-1", 0.0, 30, T0);
        assert!(sign(&bad, &vendor).is_err(), "an empty pool");
        bad = license("lic-1", 10.0, 30, T0);
        bad.rates.get_mut("repl").unwrap().insert("x".into(), -1.0);
        assert!(sign(&bad, &vendor).is_err(), "a negative rate");
        bad = license("lic-1", 10.0, -2, T0);
        assert!(sign(&bad, &vendor).is_err(), "expires before it starts");
    }

    #[test]
    fn units_are_dimensions_times_rates_and_unrated_dimensions_are_named() {
        let lic = license("l", 10.0, 30, T0);
        let dims = BTreeMap::from([("tables".to_owned(), 5.0), ("gb".to_owned(), 120.5)]);
        assert_eq!(units(lic.rates.get("repl"), &dims), (70.25, vec![]));
        let odd = BTreeMap::from([("tables".to_owned(), 1.0), ("rows".to_owned(), 3.0)]);
        assert_eq!(
            units(lic.rates.get("repl"), &odd),
            (2.0, vec!["rows".to_owned()])
        );
        assert_eq!(units(None, &odd).1.len(), 2);
    }

    #[test]
    fn the_soonest_expiring_license_is_charged_first_and_overflows_to_the_next() {
        let mut held = vec![
            Held::new(license("later", 100.0, 60, T0 - 10 * DAY)),
            Held::new(license("sooner", 10.0, 30, T0 - 5 * DAY)),
            Held::new(license("sooner-older", 10.0, 30, T0 - 9 * DAY)),
        ];
        let c = charge(&held, "repl", 15.0, T0);
        assert_eq!(
            c,
            vec![(2, 10.0), (1, 5.0)],
            "equal expiry: the earlier issued first"
        );
        apply(&mut held, &c, T0);
        assert_eq!(held[2].exhausted_at, Some(T0));
        let c = charge(&held, "repl", 20.0, T0);
        assert_eq!(c, vec![(1, 5.0), (0, 15.0)], "overflow to the next");
        apply(&mut held, &c, T0);
        // Past every pool: the rest goes over on the last that can carry it.
        let c = charge(&held, "repl", 200.0, T0);
        assert_eq!(c, vec![(0, 200.0)]);
        assert!(
            charge(&held, "other", 1.0, T0).is_empty(),
            "no rate: nothing charged"
        );
    }

    #[test]
    fn enforcement_walks_ok_warning_grace_enforced() {
        let mut held = vec![Held::new(license("l", 100.0, 30, T0 - DAY))];
        let reporting = BTreeSet::from(["repl".to_owned()]);
        let none = BTreeSet::new();
        let at = |held: &[Held], now| enforcement(held, &reporting, &none, now);
        assert_eq!(at(&held, T0).status, "enforcement_ok");
        let c = charge(&held, "repl", 90.0, T0);
        apply(&mut held, &c, T0);
        assert_eq!(at(&held, T0).status, "enforcement_warning");
        let c = charge(&held, "repl", 10.0, T0 + 1);
        apply(&mut held, &c, T0 + 1);
        // In grace, reports still count: over the pool ("Units Over").
        let c = charge(&held, "repl", 5.0, T0 + 2);
        assert_eq!(c, vec![(0, 5.0)]);
        apply(&mut held, &c, T0 + 2);
        assert_eq!(held[0].consumed, 105.0);
        let grace = at(&held, T0 + 2);
        assert_eq!(grace.status, "enforcement_grace");
        assert_eq!(grace.grace_extensions, vec!["repl".to_owned()]);
        assert_eq!(at(&held, T0 + 1 + 7 * DAY).status, "enforcement_enforced");
        // Expiry alone: grace from the expiry.
        let fresh = vec![Held::new(license("e", 100.0, 1, T0 - DAY))];
        assert_eq!(at(&fresh, T0 + DAY).status, "enforcement_grace");
        assert_eq!(at(&fresh, T0 + 8 * DAY).status, "enforcement_enforced");
        // No license; a revoked one.
        assert_eq!(at(&[], T0).status, "enforcement_enforced");
        let mut revoked = fresh.clone();
        revoked[0].revoked = true;
        assert_eq!(revoked[0].state(T0), LicenseState::Revoked);
        assert_eq!(at(&revoked, T0).status, "enforcement_enforced");
    }

    #[test]
    fn extensions_without_a_rate_or_with_unrated_dimensions_are_disabled() {
        let held = vec![Held::new(license("l", 100.0, 30, T0 - DAY))];
        let reporting = BTreeSet::from(["repl".to_owned(), "other".to_owned()]);
        let unrated = BTreeSet::from(["odd".to_owned()]);
        let e = enforcement(&held, &reporting, &unrated, T0);
        assert_eq!(e.status, "enforcement_ok");
        assert_eq!(
            e.disabled_extensions,
            vec!["odd".to_owned(), "other".to_owned()]
        );
        assert!(e.grace_extensions.is_empty());
    }

    #[test]
    fn the_next_change_is_the_start_the_end_or_the_end_of_grace() {
        let mut lic = license("l", 100.0, 1, T0 - DAY);
        lic.starts_at = rfc3339(T0 + 10);
        let held = vec![Held::new(lic)];
        assert_eq!(next_change(&held, T0), Some(T0 + 10));
        assert_eq!(next_change(&held, T0 + 10), Some(T0 + DAY));
        assert_eq!(next_change(&held, T0 + DAY), Some(T0 + 8 * DAY));
        assert_eq!(next_change(&held, T0 + 8 * DAY), None);
        let mut revoked = held.clone();
        revoked[0].revoked = true;
        assert_eq!(next_change(&revoked, T0), None);
        assert_eq!(next_change(&[], T0), None);
    }

    #[test]
    fn deployment_ids_are_stable_and_distinct() {
        assert_eq!(deployment_id("OABC"), deployment_id("OABC"));
        assert_ne!(deployment_id("OABC"), deployment_id("OABD"));
        assert!(deployment_id("OABC").starts_with("dep_"));
        assert_eq!(deployment_id("OABC").len(), 24);
    }
}
