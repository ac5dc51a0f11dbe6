//! Unit tests of the handle over a member's claim state: ownership, counts, fences, rebalance reports,
//! and the fenced write's checks (the claim logic itself is tested in `symphony_protocol::partition`).

use std::sync::atomic::{AtomicUsize, Ordering};

use symphony_protocol::ErrorCode;
use symphony_protocol::partition::owner;

use super::*;

/// A partitioner whose member `me` completed a claim on `view` (token `token`).
fn claimed(me: &str, view: &[&str], token: u64) -> WorkPartitioner {
    let p = WorkPartitioner::default();
    let now = p.now_ms();
    let mut member = Member::new(me);
    member.set_view(view.iter().map(|s| (*s).to_owned()).collect());
    let start = member.begin_claim(now);
    member.complete_claim(start.seq, token, now);
    p.state().member = Some(member);
    p
}

#[test]
fn a_partitioner_that_is_not_a_member_owns_nothing_but_remembers_keys() {
    let p = WorkPartitioner::default();
    assert!(!p.is_enabled());
    assert!(!p.is_my_work("a"));
    p.track(["b", "c"]);
    assert_eq!(p.state().tracked.len(), 3);
    assert_eq!(p.my_item_count(), 0);
    let e = p.fence("a").unwrap_err();
    assert!(matches!(&e, Error::NotMyWork { key } if key == "a"), "{e}");
    assert_eq!(e.code(), Some(ErrorCode::NotMyWork));
    p.forget("b");
    assert_eq!(p.state().tracked.len(), 2);
}

#[test]
fn a_member_owns_its_rendezvous_share_under_its_claims_token() {
    let view = ["inst-a", "inst-b"];
    let p = claimed("inst-a", &view, 7);
    let keys: Vec<String> = (0..200).map(|i| format!("item-{i}")).collect();
    let mine: Vec<&String> = keys
        .iter()
        .filter(|k| owner(&view, k) == Some("inst-a"))
        .collect();
    assert!(!mine.is_empty() && mine.len() < keys.len());
    for k in &keys {
        assert_eq!(p.is_my_work(k), owner(&view, k) == Some("inst-a"), "{k}");
    }
    assert_eq!(p.my_item_count(), mine.len());
    assert_eq!(p.fence(mine[0]).unwrap(), 7);
    p.forget(mine[0]);
    assert_eq!(p.my_item_count(), mine.len() - 1);
}

#[tokio::test]
async fn fenced_put_checks_the_key_then_the_connection() {
    let p = WorkPartitioner::default();
    // Not a member and not connected: the key check comes first, then the connection.
    let e = p.fenced_put("b", "bad key", "v").await.unwrap_err();
    assert!(matches!(e, Error::KeyValue { .. }), "{e}");
    let e = p.fenced_put("b", "k", "v").await.unwrap_err();
    assert!(matches!(e, Error::NotConnected { .. }), "{e}");
}

#[test]
fn rebalances_are_reported_when_either_number_changes() {
    let p = claimed("inst-a", &["inst-a"], 1);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    p.enable(Arc::new(move |total, mine| {
        seen.lock().unwrap().push((total, mine));
    }));
    assert!(p.is_enabled());
    p.track(["x", "y", "z"]);
    p.report_rebalance();
    p.report_rebalance();
    p.track(["w"]);
    p.report_rebalance();
    assert_eq!(*calls.lock().unwrap(), [(1, 3), (1, 4)]);
}

#[test]
fn the_callback_may_ask_the_partitioner() {
    let p = claimed("inst-a", &["inst-a"], 1);
    let asked = Arc::new(AtomicUsize::new(0));
    let (handle, count) = (p.clone(), asked.clone());
    p.enable(Arc::new(move |_, _| {
        count.store(handle.my_item_count() + 100, Ordering::SeqCst);
    }));
    p.track(["x"]);
    p.report_rebalance();
    assert_eq!(asked.load(Ordering::SeqCst), 101);
}

#[test]
fn a_stale_token_is_fenced_out_an_equal_or_newer_one_writes() {
    assert!(check_fence("b", "k", 5, None).is_ok());
    assert!(check_fence("b", "k", 5, Some(5)).is_ok());
    assert!(check_fence("b", "k", 6, Some(5)).is_ok());
    let e = check_fence("b", "k", 4, Some(5)).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::FencedOut {
                token: 4,
                stored: 5,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.code(), Some(ErrorCode::FencedOut));
    assert!(e.to_string().contains("fenced out"), "{e}");
}

#[test]
fn fences_are_read_from_the_header() {
    let mut h = HeaderMap::new();
    assert_eq!(fence_of(&h), None);
    h.insert(FENCE_HEADER, "42");
    assert_eq!(fence_of(&h), Some(42));
    let mut bad = HeaderMap::new();
    bad.insert(FENCE_HEADER, "x");
    assert_eq!(fence_of(&bad), None);
}

#[test]
fn kv_keys_follow_the_nats_rule() {
    for ok in ["a", "item-1", "a.b", "a/b_c=d"] {
        assert!(is_valid_kv_key(ok), "{ok}");
    }
    for bad in ["", ".a", "a.", "a b", "a*", "a>"] {
        assert!(!is_valid_kv_key(bad), "{bad:?}");
    }
}
