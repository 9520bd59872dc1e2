"""Publish all / Unpublish all: every cell of the notebook, a few requests at a time, with progress."""

from __future__ import annotations

import asyncio

import param

from jupyter_ext.clients import APIError

from .teacher_publish import PublishingState
from .teacher_rows import CellRow

BULK_CONCURRENCY = 8


class BulkPublishing(PublishingState):
    """The two bulk buttons' work over the rows of ``PublishingState``."""

    progress = param.Integer(default=0)
    progress_total = param.Integer(default=0)

    async def publish_all(self) -> None:
        await self._bulk(True)

    async def unpublish_all(self) -> None:
        await self._bulk(False)

    async def _bulk(self, publish: bool) -> None:
        """Publish (or unpublish) every cell of the notebook, a few requests at a time, with progress."""
        if not self.session_code:
            self._toast("warning", "Start a session first.")
            return
        if self.busy:
            return
        self.busy = True
        try:
            if publish and not await self.refresh_cells():
                return
            todo = [r for r in self.rows if r.cell_id and r.cell_id not in self._writing
                    and (r.changed or r.published != publish)]
            self.param.update(progress=0, progress_total=len(todo))
            gate = asyncio.Semaphore(BULK_CONCURRENCY)
            failures: list[BaseException] = []

            async def one(row: CellRow):
                async with gate:
                    if failures:
                        return
                    try:
                        await self._publish_one(row, publish, follow_switch=True)
                    except APIError as exc:
                        failures.append(exc)
                    self.progress += 1

            await asyncio.gather(*(one(row) for row in todo))
            if failures:
                self._report(failures[0], "publish all cells" if publish else "unpublish all cells")
                self._forget_session_if_gone(failures[0])
                await self.refresh_cells()
            elif todo:
                self._toast("success", f"{len(todo)} cell{'s' if len(todo) != 1 else ''} "
                                  f"{'published' if publish else 'unpublished'}.", duration=3000)
        finally:
            self.busy = False
            if self._refresh_after_bulk:
                self._refresh_after_bulk = False
                self.request_refresh()
