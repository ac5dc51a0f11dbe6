"""Extensions for the UI benchmark (bench/ui/bench.mjs starts this with the project venv's python).

    extensions.py extras TOKENS_JSON   one process, one asyncio loop, one `symphony.Extension` per token in the
                                       JSON list (prefixes bx01, bx02, …), each with a realistic UI manifest:
                                       a JSX page and its route and menu entry, a markdown help page and its
                                       route, a JSX dashboard widget, an endpoint `list` its page calls.
    extensions.py jsx TOKENS_JSON      one extension per token (prefixes bp000, bp001, …), each with one variant
                                       `ui://bpNNN/page` of the same 500-line TSX page (bench/ui/fixtures.py),
                                       unique by a comment, so that the first GET of each variant's module is a
                                       transpile-cache miss. (One extension per variant keeps each registry record
                                       the size of a real one: the module endpoint reads the whole record.)

Runs until SIGTERM/SIGINT. The loop runs in a worker thread so the SDK's per-extension signal handlers are not
installed (fifty of them would replace each other); the main thread turns SIGTERM into `stop()` for every
extension. Prints `ready` once every extension has registered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cirata import symphony  # noqa: E402

import fixtures  # noqa: E402


def extra(index: int, token: str) -> symphony.Extension:
    prefix = f"bx{index:02d}"
    title = f"Bench Extra {index:02d}"
    ext = symphony.Extension(name=title, prefix=prefix, token=token, description=f"UI benchmark extension {index}")
    ext.add_capability("sub", f"extensions.{prefix}.>", "Its own endpoints")
    ext.add_resource(f"ui://{prefix}/home", "text/symphony-jsx", fixtures.extra_home(prefix, title))
    ext.add_resource(f"ui://{prefix}/widget", "text/symphony-jsx", fixtures.extra_widget(prefix, title))
    ext.add_resource(f"ui://{prefix}/help", "text/markdown", fixtures.extra_help(prefix, title))
    ext.add_route(f"/{prefix}", f"ui://{prefix}/home")
    ext.add_route(f"/help/extensions/{prefix}", f"ui://{prefix}/help")
    ext.add_menu("main", title, f"/{prefix}", "fa-cube")
    ext.add_widget(f"ui://{prefix}/widget", title, "Health of the extension")
    return ext


async def list_items(req: symphony.Request) -> None:
    items = [{"id": f"i{n}", "name": f"Item {n}", "updated": "2026-01-01T00:00:00Z"} for n in range(5)]
    await req.respond(json.dumps(items).encode())


async def run_extra(ext: symphony.Extension, started: asyncio.Event) -> None:
    async with ext:
        service = await ext.add_endpoints(name=ext.prefix, version="1.0.0", description="bench extra")
        group = service.add_group(name=f"cirata.extensions.{ext.prefix}")
        await group.add_endpoint(name="list", handler=list_items)
        started.set()
        await ext.operate()


def bigpage(index: int, token: str) -> symphony.Extension:
    prefix = f"bp{index:03d}"
    ext = symphony.Extension(name=f"Big Page {index:03d}", prefix=prefix, token=token, description="500-line TSX page")
    ext.add_capability("sub", f"extensions.{prefix}.>", "Its own endpoints")
    ext.add_resource(f"ui://{prefix}/page", "text/symphony-jsx", fixtures.big_page(f"variant {index:03d}"))
    ext.add_route(f"/{prefix}", f"ui://{prefix}/page")
    return ext


async def run_plain(ext: symphony.Extension, started: asyncio.Event) -> None:
    async with ext:
        started.set()
        await ext.operate()


async def main(exts: list[symphony.Extension], runner, stopping: asyncio.Event) -> None:
    events = [asyncio.Event() for _ in exts]
    tasks = [asyncio.ensure_future(runner(e, ev)) for e, ev in zip(exts, events)]
    waiting = asyncio.ensure_future(asyncio.gather(*(ev.wait() for ev in events)))
    done, _ = await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        for t in done:
            t.result()  # an extension failed before all were up: raise its error
    print("ready", flush=True)
    await stopping.wait()
    for e in exts:
        e.stop()
    await asyncio.gather(*tasks, return_exceptions=True)


def serve(build, runner) -> None:
    loop = asyncio.new_event_loop()
    stopping: asyncio.Event | None = None
    failed: list[BaseException] = []

    def thread() -> None:
        nonlocal stopping
        asyncio.set_event_loop(loop)

        async def go() -> None:
            nonlocal stopping
            stopping = asyncio.Event()
            await main(build(), runner, stopping)

        try:
            loop.run_until_complete(go())
        except BaseException as e:  # noqa: BLE001 - reported below
            failed.append(e)

    worker = threading.Thread(target=thread, name="extensions")
    worker.start()

    def on_signal(_sig, _frame) -> None:
        if stopping is not None:
            loop.call_soon_threadsafe(stopping.set)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while worker.is_alive():
        worker.join(0.2)
    if failed:
        raise failed[0]


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "extras":
        with open(args[1]) as f:
            tokens = json.load(f)
        serve(lambda: [extra(i + 1, t) for i, t in enumerate(tokens)], run_extra)
    elif len(args) == 2 and args[0] == "jsx":
        with open(args[1]) as f:
            tokens = json.load(f)
        serve(lambda: [bigpage(i, t) for i, t in enumerate(tokens)], run_plain)
    else:
        sys.exit(__doc__)
