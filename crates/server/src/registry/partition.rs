//! Work-partitioning membership (docs/protocol.md §12.4): the live instances of each extension that
//! take part, written as the view `members` into the extension's own `symphony_partition_view`
//! bucket, since account isolation keeps the platform's status bucket out of its reach.
//!
//! Every replica follows the status mirror and writes a view only when it differs from the stored
//! one, with a compare-and-swap on the revision it read, so replicas agree without talking.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_nats::jetstream;
use symphony_protocol::messages::ObservedInstance;
use symphony_protocol::partition::{VIEW_BUCKET, VIEW_KEY, View};
use symphony_protocol::subjects;

use super::Registry;
use crate::bus::connect::connect_extension_admin;

/// The longest a view write waits for a retry after a failure or a silent expiry.
const SWEEP: Duration = Duration::from_secs(5);

/// The members of each extension that has any: live instances whose status says `partitioning`,
/// whose entry is stored under their own key. Pure.
pub fn members_by_prefix(
    instances: &[(String, ObservedInstance)],
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, i) in instances {
        let s = &i.status;
        if s.partitioning
            && s.state.is_live()
            && *key == subjects::status_key(&s.prefix, &s.instance_id)
        {
            out.entry(s.prefix.clone())
                .or_default()
                .insert(s.instance_id.to_string());
        }
    }
    out.into_iter()
        .map(|(p, m)| (p, m.into_iter().collect()))
        .collect()
}

/// What happened to one extension's view.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// The stored view was already this one.
    Unchanged,
    Written,
    /// The extension has not created the bucket (no instance enabled partitioning yet).
    NoBucket,
}

impl Registry {
    /// Keeps every extension's partition view in step with presence until the process ends.
    pub async fn follow_partition_views(self) {
        let mut changes = self.changes();
        // The views this replica knows to be stored; an extension that had members and has none
        // any more gets an empty view.
        let mut stored: HashMap<String, Vec<String>> = HashMap::new();
        loop {
            changes.mark_unchanged();
            match self.all_instances().await {
                Ok(instances) => {
                    let now = members_by_prefix(&instances);
                    let gone: Vec<String> = stored
                        .keys()
                        .filter(|p| !now.contains_key(*p))
                        .cloned()
                        .collect();
                    let wanted = now
                        .into_iter()
                        .chain(gone.into_iter().map(|p| (p, Vec::new())));
                    for (prefix, members) in wanted {
                        if stored.get(&prefix) == Some(&members) {
                            continue;
                        }
                        match self.write_view(&prefix, &members).await {
                            Ok(Written::NoBucket) => {
                                // Not stored: written once the extension has made the bucket.
                                tracing::debug!(%prefix, "no partition view bucket yet");
                            }
                            Ok(outcome) => {
                                tracing::info!(%prefix, ?members, ?outcome, "partition view");
                                if members.is_empty() {
                                    stored.remove(&prefix);
                                } else {
                                    stored.insert(prefix, members);
                                }
                            }
                            Err(e) => tracing::warn!(
                                %prefix,
                                error = %format!("{e:#}"),
                                "cannot write the partition view; retrying"
                            ),
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot read extension status"),
            }
            self.next_change(&mut changes, SWEEP).await;
        }
    }

    /// Writes `members` as `prefix`'s view unless it is stored already: compare-and-swap on the
    /// revision read, so a concurrent writer's newer view is not overwritten blindly.
    pub async fn write_view(&self, prefix: &str, members: &[String]) -> anyhow::Result<Written> {
        let settings = &self.settings;
        let admin = connect_extension_admin(
            &self.auth.identity,
            prefix,
            &settings.nats_urls,
            settings.nats_ca.as_deref(),
        )
        .await?;
        let result = async {
            let js = jetstream::new(admin.clone());
            let Ok(kv) = js.get_key_value(VIEW_BUCKET).await else {
                return Ok(Written::NoBucket);
            };
            let view = View::new(members.iter().cloned());
            let entry = kv.entry(VIEW_KEY).await?;
            let current = entry
                .as_ref()
                .filter(|e| e.operation == jetstream::kv::Operation::Put)
                .and_then(|e| serde_json::from_slice::<View>(&e.value).ok());
            if current.as_ref() == Some(&view) {
                return Ok(Written::Unchanged);
            }
            let bytes = serde_json::to_vec(&view)?;
            match entry {
                Some(e) => kv.update(VIEW_KEY, bytes.into(), e.revision).await?,
                None => kv.create(VIEW_KEY, bytes.into()).await?,
            };
            anyhow::Ok(Written::Written)
        }
        .await;
        let _ = admin.drain().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_protocol::KeyId;
    use symphony_protocol::messages::{InstanceState, InstanceStatus};

    fn instance(
        prefix: &str,
        id: &KeyId,
        partitioning: bool,
        state: InstanceState,
    ) -> InstanceStatus {
        InstanceStatus {
            v: 1,
            prefix: prefix.into(),
            instance_id: id.clone(),
            name: "X".into(),
            state,
            sdk: Default::default(),
            started_at: String::new(),
            updated_at: String::new(),
            host: String::new(),
            pid: 0,
            message: None,
            key_id: None,
            partitioning,
        }
    }

    fn observed(key: String, status: InstanceStatus) -> (String, ObservedInstance) {
        (
            key,
            ObservedInstance {
                status,
                since_heartbeat: Duration::ZERO,
            },
        )
    }

    #[test]
    fn members_are_live_partitioning_instances_under_their_own_key() {
        let (a, b, c, d) = (
            KeyId::generate(),
            KeyId::generate(),
            KeyId::generate(),
            KeyId::generate(),
        );
        let all = vec![
            observed(format!("x.{a}"), instance("x", &a, true, InstanceState::Ok)),
            observed(
                format!("x.{b}"),
                instance("x", &b, true, InstanceState::Warning),
            ),
            // not partitioning, disconnected, or written under another key: not members
            observed(
                format!("x.{c}"),
                instance("x", &c, false, InstanceState::Ok),
            ),
            observed(
                format!("x.{d}"),
                instance("x", &d, true, InstanceState::Disconnected),
            ),
            observed(format!("x.{c}"), instance("y", &c, true, InstanceState::Ok)),
        ];
        let views = members_by_prefix(&all);
        let mut expected = vec![a.to_string(), b.to_string()];
        expected.sort();
        assert_eq!(views.get("x"), Some(&expected));
        assert_eq!(views.get("y"), None);
    }
}
