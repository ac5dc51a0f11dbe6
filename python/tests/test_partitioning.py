"""Work partitioning (docs/protocol.md §12.4) against the real server: the claim loop in-process (the view, the
rebalance callback, fences and fenced writes, the graceful leave), then three processes of examples/python/workers
sharing 1,000 items while a checker asks every instance what it owns, through a SIGKILL of one of them.

The members view (`symphony_partition_view`, key `members`) is written by the server from presence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from cirata import symphony
from cirata.symphony.bootstrap import connect_nats, exchange
from cirata.symphony.credentials import TokenSource
from cirata.symphony.partition import FENCE_HEADER, MEMBERS_BUCKET, member_key

from .conftest import REPO, Platform, start_platform, stop_process_group
from .test_extension import poll

WORKERS = REPO / "examples" / "python" / "workers" / "main.py"
ITEMS = 1000


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server of this module's own: the session's has made many extension accounts by the time this runs, and
    each reserves JetStream resources."""
    with start_platform(tmp_path_factory.mktemp("partitioning")) as running:
        yield running


def worker_key(platform: Platform, prefix: str) -> str:
    """The key the workers run with: bound to `prefix`, its progress bucket, and calls to its own subjects (the
    tests' client connection uses it too)."""
    return platform.api_key(
        prefix=prefix,
        capabilities=(f"sub:extensions.{prefix}.>", f"pub:extensions.{prefix}.>"),
        buckets=(f"{prefix}_progress",),
    )


async def connect_as(token: str, name: str) -> Client:
    address, api_key = await exchange(token, TokenSource.EXPLICIT, None)
    return await connect_nats(api_key, address, name)


def live_partitioning(platform: Platform, prefix: str) -> list[dict[str, Any]]:
    """The instances of `prefix` that are live and take part in partitioning, as the platform shows them."""
    view = platform.extension(prefix)
    if not view:
        return []
    return [i for i in view["instances"] if i.get("partitioning") and i["state"] in ("ok", "warning", "error")]


async def test_one_member_claims_fences_and_leaves(platform: Platform, prefix: str) -> None:
    token = worker_key(platform, prefix)
    rebalances: list[tuple[int, int]] = []

    async def on_rebalance(total: int, mine: int) -> None:  # a coroutine function works as well as a function
        rebalances.append((total, mine))

    ext = symphony.Extension("Partitioned", prefix, token=token)
    ext.add_bucket(f"{prefix}_progress", "fenced writes")
    partitioner = ext.work_partitioner
    assert not partitioner.is_my_work("before-connect")
    with pytest.raises(symphony.NotMyWorkError) as refused:
        partitioner.fence("before-connect")
    assert refused.value.code == "not_my_work"
    partitioner.forget("before-connect")
    with pytest.raises(symphony.ValidationError):
        await partitioner.fenced_put("b", "bad key", b"v")
    with pytest.raises(symphony.NotConnectedError):
        await partitioner.fenced_put("b", "k", b"v")
    ext.enable_work_partitioning(on_rebalance)
    keys = [f"k{i}" for i in range(20)]
    partitioner.track(keys)

    client = await connect_as(token, "partitioning-test")
    try:
        async with ext:
            with pytest.raises(symphony.PartitioningError):
                ext.enable_work_partitioning(on_rebalance)
            task = asyncio.ensure_future(ext.operate())
            me = ext.instance_id
            assert me is not None
            await poll(
                "the status to say partitioning",
                lambda: [i["instance_id"] for i in live_partitioning(platform, prefix)] == [me],
            )
            await poll("the first rebalance with every key", lambda: (1, len(keys)) in rebalances, 30)
            assert all(partitioner.is_my_work(k) for k in keys)
            assert partitioner.my_item_count == len(keys)

            await check_fenced_writes(partitioner, client.jetstream(), f"{prefix}_progress")
            await check_another_members_record(partitioner, client.jetstream(), me, keys, rebalances)

            ext.stop()
            await asyncio.wait_for(task, 30)
        # The graceful leave deleted the record and owns nothing.
        assert not partitioner.is_my_work("k1")
        records = await client.jetstream().key_value(MEMBERS_BUCKET)
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await records.get(member_key(me))
    finally:
        await client.close()


async def check_fenced_writes(partitioner: symphony.WorkPartitioner, js: JetStreamContext, bucket: str) -> None:
    """The owner writes with its fence; an entry a later owner fenced refuses an older token."""
    token = partitioner.fence("k1")
    revision = await partitioner.fenced_put(bucket, "k1", b"first")
    stored = await js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.k1")
    assert (stored.data, stored.seq) == (b"first", revision)
    assert stored.headers is not None and stored.headers[FENCE_HEADER] == str(token)
    assert await partitioner.fenced_put(bucket, "k1", "second") > revision, "the same token may write again"
    await js.publish(f"$KV.{bucket}.k1", b"newer owner", headers={FENCE_HEADER: str(token + 1000)})
    with pytest.raises(symphony.FencedOutError) as fenced:
        await partitioner.fenced_put(bucket, "k1", b"stale")
    assert fenced.value.code == "fenced_out"
    assert (await (await js.key_value(bucket)).get("k1")).value == b"newer owner"
    with pytest.raises(symphony.SymphonyRuntimeError) as missing:
        await partitioner.fenced_put(f"{bucket}_missing", "k1", b"x")
    assert missing.value.code == "invalid_bucket"


async def check_another_members_record(
    partitioner: symphony.WorkPartitioner,
    js: JetStreamContext,
    me: str,
    keys: list[str],
    rebalances: list[tuple[int, int]],
) -> None:
    """Another member's record takes its share away at once: this instance may not own what that member's view gives
    that member. Its deletion gives it back at once."""
    stranger = "zzzzzzzzzzzzzzzzzzzzzzzzzz"
    records = await js.key_value(MEMBERS_BUCKET)
    record = {"v": 1, "instance_id": stranger, "members": sorted([me, stranger])}
    await records.put(member_key(stranger), json.dumps(record).encode())
    await poll("the stranger's share to go", lambda: not all(partitioner.is_my_work(k) for k in keys))
    theirs = next(k for k in keys if not partitioner.is_my_work(k))
    with pytest.raises(symphony.NotMyWorkError):
        partitioner.fence(theirs)
    with pytest.raises(symphony.NotMyWorkError):
        await partitioner.fenced_put("unused", theirs, b"x")
    await poll("a rebalance with fewer items", lambda: any(m < len(keys) for _, m in rebalances), 30)
    await records.delete(member_key(stranger))
    await poll("the stranger's share to come back", lambda: all(partitioner.is_my_work(k) for k in keys))
    await poll("the rebalance back to every key", lambda: rebalances[-1] == (1, len(keys)), 30)


class Worker:
    """One process of examples/python/workers."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKERS)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def messages(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line)["message"] for line in lines if line.startswith("{")]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"a worker exited with {self.proc.returncode}:\n{self.log.read_text(errors='replace')}")


@pytest.fixture
def start_workers(platform: Platform, prefix: str, tmp_path: Path) -> Iterator[Any]:
    token = worker_key(platform, prefix)
    env = {k: v for k, v in platform.env.items() if k != "PYTHONPATH"}
    env.update(
        PYTHONPATH=str(REPO / "python"),
        SYMPHONY_CREDENTIAL_STORE="file",
        CIRATA_CONFIG_DIR=str(tmp_path / "config"),
        SYMPHONY_TOKEN=token,
        WORKERS_PREFIX=prefix,
        WORKERS_ITEMS=str(ITEMS),
    )
    started: list[Worker] = []

    def start(n: int) -> list[Worker]:
        workers = [Worker(env, tmp_path / f"worker-{len(started) + i}.log") for i in range(n)]
        started.extend(workers)
        return workers

    start.token = token  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for worker in started:
            stop_process_group(worker.proc)


class OwnershipChecker:
    """Asks every live instance, at once and over and over, which items it owns; remembers any item two instances
    reported in the same round."""

    def __init__(self, nc: Client, prefix: str) -> None:
        self.nc, self.prefix = nc, prefix
        self.instances: list[str] = []
        self.doubles: list[tuple[str, list[str]]] = []
        self.rounds = 0

    async def sample(self) -> dict[str, set[str]]:
        async def ask(instance: str) -> tuple[str, set[str] | None]:
            subject = f"cirata.extensions.{self.prefix}.instance.{instance}.owned"
            try:
                reply = await self.nc.request(subject, b"", timeout=5)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                return instance, None  # gone (killed)
            return instance, set(json.loads(reply.data)["owned"])

        answers = dict(await asyncio.gather(*(ask(i) for i in self.instances)))
        owned = {i: s for i, s in answers.items() if s is not None}
        seen: dict[str, str] = {}
        for instance, items in owned.items():
            for item in items:
                if item in seen:
                    self.doubles.append((item, [seen[item], instance]))
                seen[item] = instance
        self.rounds += 1
        return owned

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await self.sample()
                await asyncio.sleep(0.1)

        task = asyncio.ensure_future(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def partitioned(owned: dict[str, set[str]], count: int, items: int) -> bool:
    """`count` instances answered, each owns some items, and together they own all `items` items, each once."""
    sizes = sum(len(s) for s in owned.values())
    union = set().union(*owned.values()) if owned else set()
    return len(owned) == count and all(owned.values()) and sizes == items and len(union) == items


async def test_three_workers_share_the_items_and_survive_a_kill(
    platform: Platform, prefix: str, start_workers: Any
) -> None:
    workers = start_workers(3)
    client = await connect_as(start_workers.token, "partitioning-checker")
    try:

        def three_live() -> list[dict[str, Any]] | None:
            for worker in workers:
                worker.check_alive()
            live = live_partitioning(platform, prefix)
            return live if len(live) == 3 else None

        instances = await poll("three partitioning instances", three_live, 60)
        by_pid = {i["pid"]: i["instance_id"] for i in instances}
        checker = OwnershipChecker(client, prefix)
        checker.instances = [by_pid[w.proc.pid] for w in workers]

        async def settled(count: int) -> dict[str, set[str]] | None:
            owned = await checker.sample()
            return owned if partitioned(owned, count, ITEMS) else None

        owned = await poll("1,000 items split between three instances", lambda: settled(3), 60)
        statuses = [
            json.loads((await client.request(f"cirata.extensions.{prefix}.instance.{i}.local-status", b"", 5)).data)
            for i in checker.instances
        ]
        assert sorted(s["instance_id"] for s in statuses) == sorted(checker.instances)
        assert sum(s["work_items"] for s in statuses) == ITEMS

        async with checker.running():
            victim = workers[0]
            victim_id = by_pid[victim.proc.pid]
            os.kill(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait(timeout=30)
            survivors = workers[1:]

            def rebalanced_to_two() -> bool:
                return all(any(m.startswith("Rebalanced: 2 instances active") for m in w.messages()) for w in survivors)

            await poll("both survivors' on_rebalance with 2 instances", rebalanced_to_two, 60)
            owned = await poll("1,000 items split between the survivors", lambda: settled(2), 60)
            assert victim_id not in owned
        assert checker.rounds > 0
        assert checker.doubles == [], f"items owned twice at once: {checker.doubles[:10]}"

        # The survivors took the victim's items over with fenced writes: every item names its owner now.
        async def progress_names_owners() -> bool:
            kv = await client.jetstream().key_value(f"{prefix}_progress")
            try:
                for instance, items in owned.items():
                    for item in items:
                        if (await kv.get(item)).value != instance.encode():
                            return False
            except nats.js.errors.KeyNotFoundError:
                return False
            return True

        await poll("the progress bucket to name the current owners", progress_names_owners, 60)
    finally:
        await client.close()
