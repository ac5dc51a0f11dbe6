"""`cirata.symphony.partition`, the port of `crates/protocol/src/partition.rs`: the same cases as the Rust unit tests,
plus a randomized run of joins, leaves and pauses in which no two members ever own a key at once."""

from __future__ import annotations

import random

import pytest

from cirata.symphony.partition import (
    LEASE_MS,
    RECORD_LIVE_MS,
    Member,
    member_key,
    member_of_key,
    owner,
    score,
    view_members,
)


def ids(n: int) -> list[str]:
    return [f"inst{i:02}" for i in range(n)]


def test_owner_is_the_highest_score_and_stable_under_order() -> None:
    m = ids(5)
    for k in range(200):
        key = f"key-{k}"
        o = owner(m, key)
        assert o is not None
        assert owner(list(reversed(m)), key) == o
        assert all(score(x, key) <= score(o, key) for x in m)
    assert owner([], "k") is None


def test_member_keys_and_views() -> None:
    assert member_key("abc") == "member.abc"
    assert member_of_key("member.abc") == "abc"
    assert member_of_key("member.") is None
    assert member_of_key("members") is None
    assert view_members(["b", "a", "b"]) == ["a", "b"]


def test_rendezvous_moves_only_what_it_must() -> None:
    before = ids(4)
    after = [*before, "newcomer"]
    for k in range(500):
        key = f"k{k}"
        a, b = owner(before, key), owner(after, key)
        assert b in (a, "newcomer"), f"{key}: {a} -> {b}"


def settle(members: list[Member], view: list[str], now: int, revision: list[int]) -> None:
    """Everyone adopts the view, writes a claim, and every record reaches everyone."""
    starts = []
    for m in members:
        m.set_view(view)
        starts.append(m.begin_claim(now))
    for m in members:
        for s in starts:
            m.record(s.record.instance_id, s.record.members, now)
    for m, s in zip(members, starts, strict=True):
        revision[0] += 1
        m.complete_claim(s.seq, revision[0], now)


def test_settled_members_own_exactly_their_rendezvous_share() -> None:
    view = ids(3)
    members = [Member(i) for i in view]
    settle(members, view, 0, [0])
    for k in range(300):
        key = f"k{k}"
        owners = [m for m in members if m.owns(key, 1)]
        assert len(owners) == 1, key
        assert owners[0].id() == owner(view, key)
    assert sum(m.count_owned([f"k{k}" for k in range(300)], 1) for m in members) == 300


def test_a_lapsed_lease_owns_nothing_until_the_next_claim() -> None:
    m = Member("a")
    m.set_view(["a"])
    c = m.begin_claim(0)
    m.complete_claim(c.seq, 1, 10)
    assert m.owns("a", LEASE_MS - 1)
    assert not m.owns("a", LEASE_MS)
    assert m.fence("a", LEASE_MS) is None
    assert m.count_owned(["a"], LEASE_MS) == 0


def first_key(members: list[str], of: str) -> str:
    return next(f"k{i}" for i in range(1000) if owner(members, f"k{i}") == of)


def test_a_newcomer_waits_for_the_old_owner_to_adopt_the_view() -> None:
    old, new = ["a"], ["a", "b"]
    key = first_key(new, "b")
    a, b = Member("a"), Member("b")
    a.set_view(old)
    ca = a.begin_claim(0)
    a.complete_claim(ca.seq, 1, 0)
    assert a.owns(key, 1)
    # b sees the new view and a's old record: not eligible while a acts on the old view.
    b.set_view(new)
    b.record("a", old, 1)
    cb = b.begin_claim(1)
    b.complete_claim(cb.seq, 2, 1)
    assert not b.owns(key, 2)
    # a adopts the new view: it stops owning the key at once (before its claim completes)...
    a.set_view(new)
    assert not a.owns(key, 2)
    ca = a.begin_claim(2)
    b.record("a", ca.record.members, 3)
    a.complete_claim(ca.seq, 3, 3)
    # ...and b owns it only after a claim that saw a's new record.
    assert not b.owns(key, 3)
    cb = b.begin_claim(3)
    b.complete_claim(cb.seq, 4, 3)
    assert b.owns(key, 4)
    assert b.fence(key, 4) == 4


def test_a_silent_member_is_taken_over_only_after_its_lease_ran_out() -> None:
    two, one = ["a", "b"], ["b"]
    key = first_key(two, "a")
    a, b = Member("a"), Member("b")
    a.set_view(two)
    ca = a.begin_claim(0)
    b.record("a", two, 0)
    a.complete_claim(ca.seq, 1, 0)
    # a goes silent (paused); the server drops it from the view.
    b.set_view(one)
    cb = b.begin_claim(1_000)
    b.complete_claim(cb.seq, 2, 1_000)
    assert not b.owns(key, 1_001), "a's record is still live"
    assert a.owns(key, LEASE_MS - 1)
    assert not a.owns(key, LEASE_MS)
    cb = b.begin_claim(RECORD_LIVE_MS)
    b.complete_claim(cb.seq, 3, RECORD_LIVE_MS)
    assert b.owns(key, RECORD_LIVE_MS + 1)
    assert b.live_other_ids(RECORD_LIVE_MS) == set()


def test_an_unconfirmed_write_restricts_ownership_until_a_later_claim_completes() -> None:
    one, two = ["a"], ["a", "x"]
    key = first_key(two, "x")
    a = Member("a")
    a.set_view(one)
    c = a.begin_claim(0)
    a.complete_claim(c.seq, 1, 0)
    a.set_view(two)
    a.begin_claim(100)  # the put failed: someone may have seen it
    a.set_view(one)
    assert not a.owns(key, 200)
    c = a.begin_claim(300)
    a.complete_claim(c.seq, 5, 300)
    assert a.owns(key, 400)


def test_a_deleted_record_is_gone_at_once_and_own_records_are_ignored() -> None:
    a = Member("a")
    a.record("b", ["a", "b"], 0)
    a.record("a", ["a"], 0)
    assert a.live_other_ids(1) == {"b"}
    a.record("b", None, 1)
    assert a.live_other_ids(1) == set()


@pytest.mark.parametrize("seed", range(5))
def test_no_two_members_ever_own_a_key_at_once(seed: int) -> None:
    """A small simulation: one record log (the bucket), each member reading it in order at its own pace, a view
    that follows joins, leaves (graceful or crashes) and pauses late; at every step at most one live member owns
    each key."""
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(60)]
    members = {i: Member(i) for i in ids(8)}
    joinable = ids(8)[3:]
    alive = set(ids(3))
    paused: set[str] = set()
    log: list[tuple[str, list[str] | None]] = []  # the bucket: (instance, members or None when deleted)
    seen = dict.fromkeys(members, 0)  # how much of the log each member has read
    pending: dict[str, list[tuple[int, int]]] = {i: [] for i in members}  # claims put: (seq, revision)
    now = 0
    owned_somewhere = 0
    for _ in range(800):
        now += rng.randint(50, 400)
        change = rng.random()
        if change < 0.02 and joinable:
            alive.add(joinable.pop(0))
        elif change < 0.04 and len(alive) > 1:
            who = rng.choice(sorted(alive))
            alive.discard(who)
            paused.discard(who)
            if rng.random() < 0.5:  # a graceful leave deletes the record; a crash does not
                members[who].release()
                log.append((who, None))
        elif change < 0.07:
            paused.symmetric_difference_update({rng.choice(sorted(alive))})
        view = sorted(alive - paused)  # the server drops a paused member once its status expires
        for i in sorted(alive - paused):
            m = members[i]
            upto = min(len(log), seen[i] + rng.randint(0, 4))
            for instance, record in log[seen[i] : upto]:
                m.record(instance, record, now)
            seen[i] = upto
            for seq, revision in list(pending[i]):
                if revision <= seen[i]:
                    m.complete_claim(seq, revision, now)
                    pending[i].remove((seq, revision))
            m.set_view(view)
            if rng.random() < 0.5:
                start = m.begin_claim(now)
                log.append((i, start.record.members))
                pending[i].append((start.seq, len(log)))
        for key in keys:
            owners = [i for i in sorted(alive) if members[i].owns(key, now)]
            assert len(owners) <= 1, f"{key} owned by {owners} at {now}"
            owned_somewhere += len(owners)
    assert owned_somewhere > 0, "the simulation let members own keys at all"
