"""
Multi-instance workers: run this several times with one SYMPHONY_TOKEN and the instances share the work items
(work partitioning), each answers for itself on `local-status` (an instance handler, also reachable through
`/api/v1/extension/workers/local-status?instance=<id>`), and each `reindex` command is handled by exactly one of
them. The snippets of the "Multi-Instance Support" documentation are used unchanged.

Environment: SYMPHONY_TOKEN (a key bound to the prefix, allowed to use the bucket `<prefix>_progress`),
WORKERS_PREFIX (default `workers`), WORKERS_ITEMS (how many items there are, default 100).
"""

import asyncio
import json
import logging
import os

from cirata import symphony
from cirata.symphony.logging import configure_logging

PREFIX = os.environ.get("WORKERS_PREFIX", "workers")
ITEMS = int(os.environ.get("WORKERS_ITEMS", "100"))
PROGRESS_BUCKET = f"{PREFIX}_progress"

configure_logging(PREFIX)

ext = symphony.Extension("Workers", PREFIX, description="Shares work items between its instances")
ext.add_bucket(PROGRESS_BUCKET, "Which instance works on which item")

# --- Work partitioning (documentation: WorkPartitioner) ---


def on_rebalance(total_instances, my_item_count):
    logging.info(
        f"Rebalanced: {total_instances} instances active, "
        f"I own {my_item_count} items"
    )


ext.enable_work_partitioning(on_rebalance)

working = set()


async def process_item(key):
    """Takes an item over once: records (fenced, so a paused former owner cannot overwrite it) who works on it."""
    if key in working:
        return
    try:
        await ext.work_partitioner.fenced_put(PROGRESS_BUCKET, key, ext.instance_id)
    except (symphony.NotMyWorkError, symphony.FencedOutError) as e:
        logging.info(f"Not taking {key} over: {e}")
        return
    working.add(key)


def forget_lost_items():
    """Items another instance owns now are taken over again (with a new fenced write) if they come back."""
    working.intersection_update([key for key in working if ext.work_partitioner.is_my_work(key)])


async def watch_items():
    while True:
        discovered_items = [f"item-{i}" for i in range(ITEMS)]
        forget_lost_items()
        # In a bucket watcher loop
        for key in discovered_items:
            if ext.work_partitioner.is_my_work(key):
                await process_item(key)
            else:
                logging.debug(f"Skipping {key} — owned by another instance")
        await asyncio.sleep(0.5)


# --- Instance-specific handlers (documentation: add_instance_handler) ---


async def instance_status(req):
    status = {
        "instance_id": ext.instance_id,
        "work_items": ext.work_partitioner.my_item_count,
    }
    await req.respond(json.dumps(status).encode("utf-8"))


ext.add_instance_handler("local-status", instance_status)


async def owned_items(req):
    """The items this instance owns right now (a checker asks every instance)."""
    owned = [f"item-{i}" for i in range(ITEMS) if ext.work_partitioner.is_my_work(f"item-{i}")]
    await req.respond(json.dumps({"instance_id": ext.instance_id, "owned": owned}).encode("utf-8"))


ext.add_instance_handler("owned", owned_items)

# --- Commands: each one is handled by exactly one instance ---


async def reindex(req):
    await req.respond(json.dumps({"reindexed_by": ext.instance_id}).encode("utf-8"))


ext.add_command_handler("reindex", reindex, description="Rebuild the search index")


async def main():
    try:
        async with ext:
            instance_id = ext.instance_id
            logging.info(f"Instance {instance_id} started")
            worker = asyncio.ensure_future(watch_items())
            try:
                await ext.operate()
            finally:
                worker.cancel()
    except RuntimeError as e:
        logging.error(f"Unable to initialize: {e}")


if __name__ == "__main__":
    asyncio.run(main())
