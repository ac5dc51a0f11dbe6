//! Work partitioning (docs/protocol.md §12.4): rendezvous hashing over the members' instance ids,
//! and the claim state of one member that keeps two live instances from ever owning the same key.
//!
//! Pure: time is milliseconds on the caller's monotonic clock, and I/O (the KV puts, the watcher)
//! belongs to the SDK or to the simulation in `bench/` that drives this state.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A member claims this often (and at once when its inputs change).
pub const CLAIM_EVERY_MS: u64 = 2_000;
/// A claim's lease: valid this long after the monotonic time just before its record was sent.
pub const LEASE_MS: u64 = 6_000;
/// Another member's record counts as live this long after the observer last saw it written.
pub const RECORD_LIVE_MS: u64 = 9_000;

/// KV bucket (in the extension's account) the server writes the view into.
pub const VIEW_BUCKET: &str = "symphony_partition_view";
/// The view's key in [`VIEW_BUCKET`].
pub const VIEW_KEY: &str = "members";
/// KV bucket of the members' records.
pub const MEMBERS_BUCKET: &str = "symphony_partition";
/// Max age of [`MEMBERS_BUCKET`]'s entries: a dead member's record goes by itself.
pub const MEMBERS_MAX_AGE_SECS: u64 = 60;
/// Header of a fenced KV write.
pub const FENCE_HEADER: &str = "Symphony-Fence";

/// The key of a member's record in [`MEMBERS_BUCKET`].
pub fn member_key(instance: &str) -> String {
    format!("member.{instance}")
}

/// The instance id in a [`member_key`], if it is one.
pub fn member_of_key(key: &str) -> Option<&str> {
    key.strip_prefix("member.").filter(|s| !s.is_empty())
}

/// The view the server writes: the live members, sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub v: u32,
    pub members: Vec<String>,
}

impl View {
    pub fn new(members: impl IntoIterator<Item = String>) -> View {
        let mut members: Vec<String> = members.into_iter().collect();
        members.sort();
        members.dedup();
        View {
            v: crate::PROTOCOL_VERSION,
            members,
        }
    }
}

/// What a member publishes under [`member_key`]: the view it acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub v: u32,
    pub instance_id: String,
    pub members: Vec<String>,
}

/// The score of `member` for `key`: the first 8 bytes, big-endian, of
/// `SHA-256(member | 0x00 | key)`.
pub fn score(member: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(member.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The owner of `key` among `members`: the highest score, a tie to the greater id. `None` without
/// members.
pub fn owner<'a, S: AsRef<str>>(members: &'a [S], key: &str) -> Option<&'a str> {
    members
        .iter()
        .map(|m| (score(m.as_ref(), key), m.as_ref()))
        .max()
        .map(|(_, m)| m)
}

/// Another member's record as one observer knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    members: Vec<String>,
    /// When this observer last saw the record written.
    at_ms: u64,
}

/// A completed claim: what it wrote, what it saw, and how long it holds.
#[derive(Debug, Clone)]
struct Claimed {
    view: Vec<String>,
    /// The other members live at the snapshot, with the view each acts on.
    others: Vec<(String, Vec<String>)>,
    token: u64,
    valid_until_ms: u64,
}

/// A claim whose record is being written (or whose put failed: its outcome is unknown).
#[derive(Debug, Clone)]
struct Written {
    view: Vec<String>,
    sent_at_ms: u64,
}

/// The record to put for a claim, and its handle for [`Member::complete_claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimStart {
    pub record: MemberRecord,
    /// Identifies this claim among the ones written since the last completed claim.
    pub seq: u64,
}

/// One member's state: the inputs it has seen and its claims.
#[derive(Debug, Clone)]
pub struct Member {
    me: String,
    view: Vec<String>,
    others: BTreeMap<String, Seen>,
    claimed: Option<Claimed>,
    /// Claims written since the last completed one, by [`ClaimStart::seq`].
    written: BTreeMap<u64, Written>,
    next_seq: u64,
}

impl Member {
    pub fn new(me: impl Into<String>) -> Member {
        Member {
            me: me.into(),
            view: Vec::new(),
            others: BTreeMap::new(),
            claimed: None,
            written: BTreeMap::new(),
            next_seq: 0,
        }
    }

    pub fn id(&self) -> &str {
        &self.me
    }

    /// The latest view (the server's `members`).
    pub fn set_view(&mut self, members: Vec<String>) {
        self.view = View::new(members).members;
    }

    pub fn view(&self) -> &[String] {
        &self.view
    }

    /// A record of the members bucket was written (`Some`) or deleted (`None`), seen at `now_ms`.
    /// Records of this member itself are ignored (its claims are tracked by [`Self::begin_claim`]).
    pub fn record(&mut self, instance: &str, members: Option<Vec<String>>, now_ms: u64) {
        if instance == self.me {
            return;
        }
        match members {
            Some(members) => {
                self.others.insert(
                    instance.to_owned(),
                    Seen {
                        members,
                        at_ms: now_ms,
                    },
                );
            }
            None => {
                self.others.remove(instance);
            }
        }
    }

    fn live_others(&self, now_ms: u64) -> Vec<(String, Vec<String>)> {
        self.others
            .iter()
            .filter(|(_, s)| now_ms < s.at_ms + RECORD_LIVE_MS)
            .map(|(id, s)| (id.clone(), s.members.clone()))
            .collect()
    }

    /// Starts a claim at `now_ms`: put the returned record, then call [`Self::complete_claim`] once
    /// this member's watcher has delivered the put's revision. Until then (and forever, if the put
    /// fails) this member owns only keys it owns in the view written here too.
    pub fn begin_claim(&mut self, now_ms: u64) -> ClaimStart {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.written.insert(
            seq,
            Written {
                view: self.view.clone(),
                sent_at_ms: now_ms,
            },
        );
        ClaimStart {
            record: MemberRecord {
                v: crate::PROTOCOL_VERSION,
                instance_id: self.me.clone(),
                members: self.view.clone(),
            },
            seq,
        }
    }

    /// The claim `seq` was stored at `revision` and the watcher has delivered it: snapshot the
    /// live records now. Claims written before it are superseded.
    pub fn complete_claim(&mut self, seq: u64, revision: u64, now_ms: u64) {
        let Some(written) = self.written.get(&seq).cloned() else {
            return;
        };
        self.written.retain(|s, _| *s > seq);
        self.claimed = Some(Claimed {
            view: written.view,
            others: self.live_others(now_ms),
            token: revision,
            valid_until_ms: written.sent_at_ms + LEASE_MS,
        });
    }

    /// Stops owning anything (a graceful leave: then delete the record).
    pub fn release(&mut self) {
        self.claimed = None;
    }

    /// Whether the lease of the last completed claim still holds at `now_ms`.
    pub fn holds_lease(&self, now_ms: u64) -> bool {
        self.claimed
            .as_ref()
            .is_some_and(|c| now_ms < c.valid_until_ms)
    }

    fn eligible(&self, key: &str, view: &[String], others: &[(String, Vec<String>)]) -> bool {
        owner(view, key) == Some(self.me.as_str())
            && others
                .iter()
                .all(|(id, members)| owner(members, key) != Some(id.as_str()))
    }

    /// [`Self::eligible`] under the current inputs: the latest view and the records live at `now_ms`
    /// (read in place: this runs for every key asked).
    fn eligible_now(&self, key: &str, now_ms: u64) -> bool {
        owner(&self.view, key) == Some(self.me.as_str())
            && self
                .others
                .iter()
                .filter(|(_, s)| now_ms < s.at_ms + RECORD_LIVE_MS)
                .all(|(id, s)| owner(&s.members, key) != Some(id.as_str()))
    }

    /// Whether this member owns `key` at `now_ms` (docs/protocol.md §12.4).
    pub fn owns(&self, key: &str, now_ms: u64) -> bool {
        self.fence(key, now_ms).is_some()
    }

    /// The fencing token under which this member owns `key` at `now_ms`, if it does.
    pub fn fence(&self, key: &str, now_ms: u64) -> Option<u64> {
        let claimed = self.claimed.as_ref()?;
        if now_ms >= claimed.valid_until_ms {
            return None;
        }
        let owned = self.eligible(key, &claimed.view, &claimed.others)
            && self.eligible_now(key, now_ms)
            && self
                .written
                .values()
                .all(|w| owner(&w.view, key) == Some(self.me.as_str()));
        owned.then_some(claimed.token)
    }

    /// How many of `keys` this member owns at `now_ms`.
    pub fn count_owned<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a String>,
        now_ms: u64,
    ) -> usize {
        if !self.holds_lease(now_ms) {
            return 0;
        }
        keys.into_iter().filter(|k| self.owns(k, now_ms)).count()
    }

    /// The ids of the other members whose records are live at `now_ms`.
    pub fn live_other_ids(&self, now_ms: u64) -> HashSet<String> {
        self.live_others(now_ms)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("inst{i:02}")).collect()
    }

    #[test]
    fn owner_is_the_highest_score_and_stable_under_order() {
        let m = ids(5);
        let mut rev = m.clone();
        rev.reverse();
        for k in 0..200 {
            let key = format!("key-{k}");
            let o = owner(&m, &key).unwrap();
            assert_eq!(Some(o), owner(&rev, &key));
            assert!(m.iter().all(|x| score(x, &key) <= score(o, &key)));
        }
        assert_eq!(owner::<String>(&[], "k"), None);
    }

    /// A join moves keys only to the newcomer; a leave only from the leaver.
    #[test]
    fn rendezvous_moves_only_what_it_must() {
        let before = ids(4);
        let mut after = before.clone();
        after.push("newcomer".into());
        for k in 0..500 {
            let key = format!("k{k}");
            let (a, b) = (owner(&before, &key).unwrap(), owner(&after, &key).unwrap());
            assert!(a == b || b == "newcomer", "{key}: {a} -> {b}");
        }
    }

    fn settle(members: &mut [Member], view: &[String], now: u64, revision: &mut u64) {
        // Everyone adopts the view, writes a claim, and every record reaches everyone.
        let mut starts = Vec::new();
        for m in members.iter_mut() {
            m.set_view(view.to_vec());
            starts.push(m.begin_claim(now));
        }
        let records: Vec<_> = starts.iter().map(|s| s.record.clone()).collect();
        for m in members.iter_mut() {
            for r in &records {
                m.record(&r.instance_id, Some(r.members.clone()), now);
            }
        }
        for (m, s) in members.iter_mut().zip(starts) {
            *revision += 1;
            m.complete_claim(s.seq, *revision, now);
        }
    }

    #[test]
    fn settled_members_own_exactly_their_rendezvous_share() {
        let view = ids(3);
        let mut members: Vec<Member> = view.iter().map(Member::new).collect();
        let mut rev = 0;
        settle(&mut members, &view, 0, &mut rev);
        for k in 0..300 {
            let key = format!("k{k}");
            let owners: Vec<_> = members.iter().filter(|m| m.owns(&key, 1)).collect();
            assert_eq!(owners.len(), 1, "{key}");
            assert_eq!(Some(owners[0].id()), owner(&view, &key));
        }
    }

    #[test]
    fn a_lapsed_lease_owns_nothing_until_the_next_claim() {
        let view = ids(1);
        let mut m = Member::new(&view[0]);
        m.set_view(view.clone());
        let c = m.begin_claim(0);
        m.complete_claim(c.seq, 1, 10);
        assert!(m.owns("a", LEASE_MS - 1));
        assert!(!m.owns("a", LEASE_MS));
        assert_eq!(m.fence("a", LEASE_MS), None);
    }

    #[test]
    fn a_newcomer_waits_for_the_old_owner_to_adopt_the_view() {
        let old = vec!["a".to_owned()];
        let new = vec!["a".to_owned(), "b".to_owned()];
        let key = (0..100)
            .map(|i| format!("k{i}"))
            .find(|k| owner(&new, k) == Some("b"))
            .unwrap();
        let (mut a, mut b) = (Member::new("a"), Member::new("b"));
        a.set_view(old.clone());
        let ca = a.begin_claim(0);
        a.complete_claim(ca.seq, 1, 0);
        assert!(a.owns(&key, 1));
        // b sees the new view and a's old record: not eligible while a acts on the old view.
        b.set_view(new.clone());
        b.record("a", Some(old.clone()), 1);
        let cb = b.begin_claim(1);
        b.complete_claim(cb.seq, 2, 1);
        assert!(!b.owns(&key, 2));
        // a adopts the new view: it stops owning the key at once (before its claim completes)...
        a.set_view(new.clone());
        assert!(!a.owns(&key, 2));
        let ca = a.begin_claim(2);
        b.record("a", Some(ca.record.members.clone()), 3);
        a.complete_claim(ca.seq, 3, 3);
        // ...and b owns it only after a claim that saw a's new record.
        assert!(!b.owns(&key, 3));
        let cb = b.begin_claim(3);
        b.complete_claim(cb.seq, 4, 3);
        assert!(b.owns(&key, 4));
        assert_eq!(b.fence(&key, 4), Some(4));
    }

    #[test]
    fn a_silent_member_is_taken_over_only_after_its_lease_ran_out() {
        let two = vec!["a".to_owned(), "b".to_owned()];
        let one = vec!["b".to_owned()];
        let key = (0..100)
            .map(|i| format!("k{i}"))
            .find(|k| owner(&two, k) == Some("a"))
            .unwrap();
        let (mut a, mut b) = (Member::new("a"), Member::new("b"));
        a.set_view(two.clone());
        let ca = a.begin_claim(0);
        b.record("a", Some(two.clone()), 0);
        a.complete_claim(ca.seq, 1, 0);
        // a goes silent (paused); the server drops it from the view.
        b.set_view(one.clone());
        let cb = b.begin_claim(1_000);
        b.complete_claim(cb.seq, 2, 1_000);
        assert!(!b.owns(&key, 1_001), "a's record is still live");
        assert!(a.owns(&key, LEASE_MS - 1));
        assert!(!a.owns(&key, LEASE_MS));
        let cb = b.begin_claim(RECORD_LIVE_MS);
        b.complete_claim(cb.seq, 3, RECORD_LIVE_MS);
        assert!(b.owns(&key, RECORD_LIVE_MS + 1));
    }

    #[test]
    fn an_unconfirmed_write_restricts_ownership_until_a_later_claim_completes() {
        let one = vec!["a".to_owned()];
        let two = vec!["a".to_owned(), "x".to_owned()];
        let key = (0..100)
            .map(|i| format!("k{i}"))
            .find(|k| owner(&two, k) == Some("x"))
            .unwrap();
        let mut a = Member::new("a");
        a.set_view(one.clone());
        let c = a.begin_claim(0);
        a.complete_claim(c.seq, 1, 0);
        a.set_view(two.clone());
        let _lost = a.begin_claim(100); // the put failed: someone may have seen it
        a.set_view(one.clone());
        assert!(!a.owns(&key, 200));
        let c = a.begin_claim(300);
        a.complete_claim(c.seq, 5, 300);
        assert!(a.owns(&key, 400));
    }
}
