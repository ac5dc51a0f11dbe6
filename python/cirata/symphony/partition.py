"""Work partitioning (docs/protocol.md §12.4): rendezvous hashing over the members' instance ids, and the claim
state of one member that keeps two live instances from ever owning the same key.

A port of `crates/protocol/src/partition.rs` with the same names and semantics, checked against the same vectors
(`crates/protocol/vectors/partition.json`). Pure: time is milliseconds on the caller's monotonic clock, and I/O
(the KV puts, the watchers) belongs to `cirata.symphony.partitioning`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROTOCOL_VERSION = 1

CLAIM_EVERY_MS = 2_000
"""A member claims this often (and at once when its inputs change)."""
LEASE_MS = 6_000
"""A claim's lease: valid this long after the monotonic time just before its record was sent."""
RECORD_LIVE_MS = 9_000
"""Another member's record counts as live this long after the observer last saw it written."""

VIEW_BUCKET = "symphony_partition_view"
"""KV bucket (in the extension's account) the server writes the view into."""
VIEW_KEY = "members"
"""The view's key in `VIEW_BUCKET`."""
MEMBERS_BUCKET = "symphony_partition"
"""KV bucket of the members' records."""
MEMBERS_MAX_AGE_SECS = 60
"""Max age of `MEMBERS_BUCKET`'s entries: a dead member's record goes by itself."""
FENCE_HEADER = "Symphony-Fence"
"""Header of a fenced KV write."""

_MEMBER_KEY_PREFIX = "member."


def member_key(instance: str) -> str:
    """The key of a member's record in `MEMBERS_BUCKET`."""
    return f"{_MEMBER_KEY_PREFIX}{instance}"


def member_of_key(key: str) -> str | None:
    """The instance id in a `member_key`, if it is one."""
    if key.startswith(_MEMBER_KEY_PREFIX) and len(key) > len(_MEMBER_KEY_PREFIX):
        return key[len(_MEMBER_KEY_PREFIX) :]
    return None


def view_members(members: Iterable[str]) -> list[str]:
    """A view's members: sorted (byte order, which is code point order) and unique."""
    return sorted(set(members))


@dataclass(frozen=True)
class MemberRecord:
    """What a member publishes under `member_key`: the view it acts on."""

    instance_id: str
    members: list[str]
    v: int = PROTOCOL_VERSION

    def to_json(self) -> dict[str, object]:
        return {"v": self.v, "instance_id": self.instance_id, "members": list(self.members)}


def score(member: str, key: str) -> int:
    """The score of `member` for `key`: the first 8 bytes, big-endian, of `SHA-256(member | 0x00 | key)`."""
    digest = hashlib.sha256(member.encode() + b"\x00" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner(members: Sequence[str], key: str) -> str | None:
    """The owner of `key` among `members`: the highest score, a tie to the greater id. `None` without members."""
    if not members:
        return None
    return max((score(m, key), m) for m in members)[1]


@dataclass
class _Seen:
    """Another member's record as one observer knows it."""

    members: list[str]
    at_ms: int
    """When this observer last saw the record written."""


@dataclass
class _Claimed:
    """A completed claim: what it wrote, what it saw, and how long it holds."""

    view: list[str]
    others: list[tuple[str, list[str]]]
    """The other members live at the snapshot, with the view each acts on."""
    token: int
    valid_until_ms: int


@dataclass
class _Written:
    """A claim whose record is being written (or whose put failed: its outcome is unknown)."""

    view: list[str]
    sent_at_ms: int


@dataclass(frozen=True)
class ClaimStart:
    """The record to put for a claim, and its handle for `Member.complete_claim`."""

    record: MemberRecord
    seq: int
    """Identifies this claim among the ones written since the last completed claim."""


class Member:
    """One member's state: the inputs it has seen and its claims."""

    def __init__(self, me: str) -> None:
        self.me = me
        self._view: list[str] = []
        self._others: dict[str, _Seen] = {}
        self._claimed: _Claimed | None = None
        self._written: dict[int, _Written] = {}
        """Claims written since the last completed one, by `ClaimStart.seq`."""
        self._next_seq = 0

    def id(self) -> str:
        return self.me

    def set_view(self, members: Iterable[str]) -> None:
        """The latest view (the server's `members`)."""
        self._view = view_members(members)

    def view(self) -> list[str]:
        return list(self._view)

    def record(self, instance: str, members: list[str] | None, now_ms: int) -> None:
        """A record of the members bucket was written (`members`) or deleted (`None`), seen at `now_ms`. Records
        of this member itself are ignored (its claims are tracked by `begin_claim`)."""
        if instance == self.me:
            return
        if members is not None:
            self._others[instance] = _Seen(list(members), now_ms)
        else:
            self._others.pop(instance, None)

    def _live_others(self, now_ms: int) -> list[tuple[str, list[str]]]:
        return [
            (instance, list(seen.members))
            for instance, seen in sorted(self._others.items())
            if now_ms < seen.at_ms + RECORD_LIVE_MS
        ]

    def begin_claim(self, now_ms: int) -> ClaimStart:
        """Starts a claim at `now_ms`: put the returned record, then call `complete_claim` once this member's
        watcher has delivered the put's revision. Until then (and forever, if the put fails) this member owns only
        keys it owns in the view written here too."""
        seq = self._next_seq
        self._next_seq += 1
        self._written[seq] = _Written(list(self._view), now_ms)
        return ClaimStart(MemberRecord(self.me, list(self._view)), seq)

    def complete_claim(self, seq: int, revision: int, now_ms: int) -> None:
        """The claim `seq` was stored at `revision` and the watcher has delivered it: snapshot the live records
        now. Claims written before it are superseded."""
        written = self._written.get(seq)
        if written is None:
            return
        self._written = {s: w for s, w in self._written.items() if s > seq}
        self._claimed = _Claimed(
            view=list(written.view),
            others=self._live_others(now_ms),
            token=revision,
            valid_until_ms=written.sent_at_ms + LEASE_MS,
        )

    def release(self) -> None:
        """Stops owning anything (a graceful leave: then delete the record)."""
        self._claimed = None

    def holds_lease(self, now_ms: int) -> bool:
        """Whether the lease of the last completed claim still holds at `now_ms`."""
        return self._claimed is not None and now_ms < self._claimed.valid_until_ms

    def _eligible(self, key: str, view: Sequence[str], others: Sequence[tuple[str, list[str]]]) -> bool:
        return owner(view, key) == self.me and all(owner(members, key) != other for other, members in others)

    def owns(self, key: str, now_ms: int) -> bool:
        """Whether this member owns `key` at `now_ms` (docs/protocol.md §12.4)."""
        return self.fence(key, now_ms) is not None

    def fence(self, key: str, now_ms: int) -> int | None:
        """The fencing token under which this member owns `key` at `now_ms`, if it does."""
        claimed = self._claimed
        if claimed is None or now_ms >= claimed.valid_until_ms:
            return None
        owned = (
            self._eligible(key, claimed.view, claimed.others)
            and self._eligible(key, self._view, self._live_others(now_ms))
            and all(owner(w.view, key) == self.me for w in self._written.values())
        )
        return claimed.token if owned else None

    def count_owned(self, keys: Iterable[str], now_ms: int) -> int:
        """How many of `keys` this member owns at `now_ms`."""
        if not self.holds_lease(now_ms):
            return 0
        return sum(1 for k in keys if self.owns(k, now_ms))

    def live_other_ids(self, now_ms: int) -> set[str]:
        """The ids of the other members whose records are live at `now_ms`."""
        return {instance for instance, _ in self._live_others(now_ms)}
