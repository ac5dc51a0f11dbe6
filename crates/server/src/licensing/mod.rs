//! Licenses (docs/protocol.md §13): the `symphony_licenses` table, the REST API that uploads, lists
//! and revokes them, the `cirata.services.usage.enforcement` service and the broadcast of the
//! enforcement state on `cirata.symphony.enforcement`. What a license means (signature, deployment,
//! states, enforcement) is `symphony_protocol::license`; this module stores and publishes.

mod routes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, jetstream};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use symphony_protocol::error::ErrorReply;
use symphony_protocol::license::{
    self, Enforcement, Held, LicenseError, LicenseState, SignedLicense,
};
use symphony_protocol::time::{now_nanos, now_rfc3339, now_unix};
use symphony_protocol::{ErrorBody, ErrorCode, subjects};

use crate::bus::kv::{ensure_bucket, platform_bucket};
use crate::bus::table::{Changes, Table, is_storable_key};
use crate::error::internal;

pub use routes::router;

/// The platform bucket of uploaded licenses, by license id.
pub const LICENSES_BUCKET: &str = "symphony_licenses";
/// The queue group of the enforcement service (not the registry's: the registry's wildcard
/// subscription leaves this subject to it).
const ENFORCEMENT_QUEUE_GROUP: &str = "symphony_licensing";
/// The broadcast re-checks the licenses at least this often, whatever else happens.
const RECHECK: Duration = Duration::from_secs(60);

/// A license as stored: what was uploaded, what it has carried, who uploaded it and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenseRecord {
    pub signed: SignedLicense,
    pub held: Held,
    pub uploaded_by: String,
    /// RFC 3339.
    pub uploaded_at: String,
}

/// A license as the REST API shows it: the document's terms, its consumption and its state now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenseView {
    pub id: String,
    pub customer: String,
    pub deployment: String,
    pub vendor_key: String,
    pub issued_at: String,
    pub starts_at: String,
    pub expires_at: String,
    pub grace_secs: u64,
    pub units: f64,
    pub consumed: f64,
    pub state: LicenseState,
    pub rates: BTreeMap<String, BTreeMap<String, f64>>,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

impl LicenseView {
    /// The view of `record` at `now` (unix seconds).
    pub fn of(record: &LicenseRecord, now: i64) -> LicenseView {
        let l = &record.held.license;
        LicenseView {
            id: l.id.clone(),
            customer: l.customer.clone(),
            deployment: l.deployment.clone(),
            vendor_key: record.signed.vendor_key.clone(),
            issued_at: l.issued_at.clone(),
            starts_at: l.starts_at.clone(),
            expires_at: l.expires_at.clone(),
            grace_secs: l.grace_secs,
            units: l.units,
            consumed: record.held.consumed,
            state: record.held.state(now),
            rates: l.rates.clone(),
            uploaded_by: record.uploaded_by.clone(),
            uploaded_at: record.uploaded_at.clone(),
        }
    }
}

/// The typed refusal of a license.
pub fn refusal(e: &LicenseError) -> ErrorBody {
    let body = ErrorBody::new(e.code(), e.to_string());
    match e {
        LicenseError::UnknownVendor => body.with_hint(
            "start the server with --license-vendor-key <the vendor's public key> \
             (SYMPHONY_LICENSE_VENDOR_KEYS)",
        ),
        LicenseError::OtherDeployment { ours, .. } => body.with_hint(format!(
            "ask the vendor for a license for deployment {ours} (symphony info shows it)"
        )),
        _ => body,
    }
}

/// The licenses of this deployment; cheap to clone.
#[derive(Clone)]
pub struct Licensing {
    table: Table<LicenseRecord>,
    /// Vendor public keys whose licenses this server accepts.
    vendor_keys: Arc<Vec<String>>,
    /// This instance's deployment id.
    deployment: String,
    client: Client,
    /// Changes of the table's mirror: the broadcast wakes on them (this replica's writes and other
    /// replicas', through the watch).
    changes: Changes,
}

impl Licensing {
    /// Creates (or binds) the bucket and mirrors it.
    pub async fn init(
        client: Client,
        replicas: usize,
        vendor_keys: Vec<String>,
        deployment: String,
    ) -> anyhow::Result<Licensing> {
        let js = jetstream::new(client.clone());
        let kv = ensure_bucket(
            &js,
            &platform_bucket(LICENSES_BUCKET, "Symphony licenses", Duration::ZERO),
            replicas,
        )
        .await?;
        let changes = Changes::default();
        Ok(Licensing {
            table: Table::new(kv).mirrored(&changes),
            vendor_keys: Arc::new(vendor_keys),
            deployment,
            client,
            changes,
        })
    }

    /// This instance's deployment id.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// Verifies and stores an uploaded license; refuses an id that is stored already (also a
    /// revoked one: re-uploading must not reset what a license has carried).
    pub async fn add(&self, signed: SignedLicense, actor: &str) -> Result<LicenseView, ErrorBody> {
        let license = license::verify(&signed, &self.vendor_keys, &self.deployment)
            .map_err(|e| refusal(&e))?;
        let id = license.id.clone();
        if !is_storable_key(&id) {
            return Err(ErrorBody::new(
                ErrorCode::InvalidLicense,
                format!("license id {id:?} cannot be stored (a dot at either end or two in a row)"),
            ));
        }
        let record = LicenseRecord {
            signed,
            held: Held::new(license),
            uploaded_by: actor.to_owned(),
            uploaded_at: now_rfc3339(),
        };
        let view = LicenseView::of(&record, now_unix());
        match self.table.create(&id, record).await.map_err(internal)? {
            Some(_) => Ok(view),
            None => Err(ErrorBody::new(
                ErrorCode::AlreadyExists,
                format!("a license with id {id:?} was uploaded already"),
            )),
        }
    }

    /// Every license with its state now, by id (read from the KV: what any replica wrote).
    pub async fn list(&self) -> anyhow::Result<Vec<LicenseView>> {
        let now = now_unix();
        Ok(self
            .records()
            .await?
            .iter()
            .map(|r| LicenseView::of(r, now))
            .collect())
    }

    /// Revokes license `id`: it stays listed (state `revoked`) and carries nothing from now on.
    /// `Ok(false)` when it was revoked already.
    pub async fn revoke(&self, id: &str) -> Result<bool, ErrorBody> {
        let revoked = self
            .table
            .modify(id, |record| {
                if record.held.revoked {
                    return Err(Revoke::Already);
                }
                record.held.revoked = true;
                Ok(())
            })
            .await;
        match revoked {
            Ok(Some(_)) => Ok(true),
            Ok(None) => Err(ErrorBody::new(
                ErrorCode::LicenseNotFound,
                format!("no license with id {id:?}"),
            )),
            Err(Revoke::Already) => Ok(false),
            Err(Revoke::Failed(e)) => Err(internal(format!("{e:#}"))),
        }
    }

    /// Every stored license, read from the KV itself.
    async fn records(&self) -> anyhow::Result<Vec<LicenseRecord>> {
        Ok(self
            .table
            .all_from_kv()
            .await?
            .into_iter()
            .map(|(_, v)| (*v.value).clone())
            .collect())
    }

    /// The held licenses, read from the KV.
    async fn held(&self) -> anyhow::Result<Vec<Held>> {
        Ok(self.records().await?.into_iter().map(|r| r.held).collect())
    }

    /// The enforcement state now, from the licenses in the KV. Usage reporting is not wired yet:
    /// no extension has reported, so none is disabled or in grace on its own account.
    pub async fn enforcement(&self) -> anyhow::Result<Enforcement> {
        let held = self.held().await?;
        Ok(enforcement_at(&held, now_unix()))
    }

    /// Answers `cirata.services.usage.enforcement` until the subscription ends.
    pub async fn serve(self) -> anyhow::Result<()> {
        let mut sub = self
            .client
            .queue_subscribe(
                subjects::USAGE_ENFORCEMENT,
                ENFORCEMENT_QUEUE_GROUP.to_owned(),
            )
            .await?;
        while let Some(msg) = sub.next().await {
            let licensing = self.clone();
            tokio::spawn(async move { licensing.answer(msg).await });
        }
        Ok(())
    }

    /// One enforcement request, with the registry's reply rules: only to an inbox or an import's
    /// reply subject, and an error body when the state cannot be read.
    async fn answer(&self, msg: Message) {
        let Some(reply) = msg.reply else {
            return;
        };
        if !subjects::is_reply_subject(&reply) {
            tracing::warn!(reply = %reply, "refused an enforcement request whose reply subject is not an inbox");
            return;
        }
        let payload = match self.enforcement().await {
            Ok(e) => serde_json::to_vec(&e).unwrap_or_default(),
            Err(e) => serde_json::to_vec(&ErrorReply { error: internal(e) }).unwrap_or_default(),
        };
        if let Err(e) = self.client.publish(reply, payload.into()).await {
            tracing::warn!(error = %e, "cannot send a reply");
        }
    }

    /// Publishes the enforcement state on `cirata.symphony.enforcement` whenever it changes: after
    /// a license is uploaded or revoked (on any replica: the mirror's watch says so) and when time
    /// alone changes it (a start, an expiry, the end of a grace period), re-checking at least every
    /// minute. Each check reads the KV and publishes what it computed from it, so what goes out is
    /// never older than the read.
    pub async fn broadcast(self) {
        let mut changes = self.changes.subscribe();
        let mut last: Option<Enforcement> = None;
        loop {
            let next = match self.held().await {
                Ok(held) => {
                    let now = now_unix();
                    let state = enforcement_at(&held, now);
                    if last.as_ref() != Some(&state) {
                        match self.publish(&state).await {
                            Ok(()) => {
                                tracing::info!(status = %state.status, "enforcement state published");
                                last = Some(state);
                            }
                            Err(e) => {
                                tracing::warn!(error = %format!("{e:#}"), "cannot publish the enforcement state")
                            }
                        }
                    }
                    license::next_change(&held, now)
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot read the licenses");
                    None
                }
            };
            let wait = next.map_or(RECHECK, until).min(RECHECK);
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return; // the table is gone: the server is stopping
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn publish(&self, state: &Enforcement) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(state)?;
        self.client
            .publish(subjects::SYMPHONY_ENFORCEMENT, payload.into())
            .await?;
        self.client.flush().await?;
        Ok(())
    }
}

/// Why a revocation wrote nothing.
enum Revoke {
    Already,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Revoke {
    fn from(e: anyhow::Error) -> Self {
        Revoke::Failed(e)
    }
}

/// The enforcement state of `held` at `now`, with no usage reported.
fn enforcement_at(held: &[Held], now: i64) -> Enforcement {
    let none = BTreeSet::new();
    license::enforcement(held, &none, &none, now)
}

/// How long until `at` (unix seconds), with a little slack so the state has changed on waking.
fn until(at: i64) -> Duration {
    let nanos = i128::from(at) * 1_000_000_000 - now_nanos();
    Duration::from_nanos(nanos.clamp(0, i128::from(u64::MAX)) as u64) + Duration::from_millis(20)
}

/// Parses `--license-vendor-key` values: public operator nkeys (`O…`).
pub fn parse_vendor_keys(keys: &[String]) -> anyhow::Result<Vec<String>> {
    keys.iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(|k| {
            let ok = k.starts_with('O') && nkeys::KeyPair::from_public_key(k).is_ok();
            anyhow::ensure!(
                ok,
                "--license-vendor-key {k:?} is not a vendor public key (an operator nkey, O…; \
                 `symphony license keygen` makes one)"
            );
            Ok(k.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_keys_must_be_public_operator_keys() {
        let vendor = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let keys = parse_vendor_keys(&[vendor.public_key(), " ".into()]).unwrap();
        assert_eq!(keys, vec![vendor.public_key()]);
        assert!(parse_vendor_keys(&[account.public_key()]).is_err());
        assert!(parse_vendor_keys(&[vendor.seed().unwrap()]).is_err());
        assert!(parse_vendor_keys(&["Onope".into()]).is_err());
    }

    #[test]
    fn every_license_error_has_its_code() {
        for e in [
            LicenseError::Malformed("x".into()),
            LicenseError::UnknownVendor,
            LicenseError::BadSignature,
            LicenseError::OtherDeployment {
                ours: "a".into(),
                theirs: "b".into(),
            },
        ] {
            let body = refusal(&e);
            assert_eq!(body.code, e.code());
            assert_eq!(body.code.http_status(), 400);
        }
    }

    #[test]
    fn waiting_until_a_past_instant_is_short() {
        assert!(until(0) <= Duration::from_millis(20));
        assert!(until(now_unix() + 5) > Duration::from_secs(3));
    }
}
