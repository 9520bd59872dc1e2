"""Dashboard test helpers: wait for a dashboard's parameters (no sleeping), reset Panel's state."""

from __future__ import annotations

import asyncio
import sys


async def until(dashboard, predicate, what: str, timeout: float = 30.0):
    """Wait for a parameter change after which ``predicate()`` holds (no sleeping)."""
    changed = asyncio.Event()
    watcher = dashboard.param.watch(lambda *_: changed.set(), [n for n in dashboard.param if n != "name"])

    async def wait():
        while not predicate():
            await changed.wait()
            changed.clear()

    try:
        await asyncio.wait_for(wait(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        dashboard.param.unwatch(watcher)


def uses_dashboards(module) -> bool:
    """Whether a test module works with Panel or the dashboards (its globals say)."""
    for value in vars(module).values():
        origin = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        if isinstance(origin, str) and origin.split(".")[0] in ("panel", "codestream_dash"):
            return True
    return False


def reset_panel_state() -> None:
    """What Panel's testing guide does between tests: servers, caches, sessions, curdoc cleared."""
    panel = sys.modules.get("panel")
    if panel is not None:
        panel.state.reset()
