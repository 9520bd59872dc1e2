"""The teacher's explicit save, told apart from every autosave: JupyterLab's Save (Ctrl+S, the
toolbar's button, File > Save) saves the notebook and then creates a checkpoint
(``POST api/contents/<path>/checkpoints``); its autosaves never create one, neither its own
(every two minutes without collaboration) nor a collaboration room's (a second after each
change). So publish on save follows that checkpoint, with or without real-time collaboration,
through Jupyter's public contents REST API and nothing private.

This route shadows Jupyter's own checkpoint route (an extension's routes are matched before the
server's) and answers exactly as it does: it is Jupyter's handler, with one call after it.
"""

from __future__ import annotations

from jupyter_server.base.handlers import path_regex
from jupyter_server.services.contents.handlers import CheckpointsHandler

CHECKPOINTS_ROUTE = r"api/contents%s/checkpoints" % path_regex


class ExplicitSaveHandler(CheckpointsHandler):
    """Jupyter's ``CheckpointsHandler``; a created checkpoint of a notebook is published."""

    def initialize(self, autopublish=None, **_services):
        self.autopublish = autopublish  # the app's PublishOnSave (None when publish_on_save is off)

    async def post(self, path=""):
        await super().post(path)  # Jupyter's own login, authorization and answer
        if self.autopublish is not None and self.get_status() == 201:
            # the answer has gone out; the republish runs on in this request's task
            await self.autopublish.on_explicit_save(path)


def explicit_save_handlers(**services) -> list[tuple]:
    return [(CHECKPOINTS_ROUTE, ExplicitSaveHandler, services)]
