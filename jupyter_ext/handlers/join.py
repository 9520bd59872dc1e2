"""``GET codestream/join/{code}``: the small public page a join link opens.

It holds no credential (the key is in the link's fragment, which the browser keeps to
itself) and tells a student what to do with the link: paste it into their own Code Stream
dashboard. Public, like Jupyter's login page, so it is limited per address: its 200/404 says
whether a code is live, and codes that name no session count in the same limiter as wrong
student keys for unknown codes; past the limit every lookup from that address is 429 (a hit
too, or a guesser would still tell hits from refusals).
"""

from __future__ import annotations

from html import escape

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler

from ..domain import CodeStreamError, SessionNotFound, normalize_session_code

JOIN_ROUTE = r"codestream/join/(?P<code>[^/]+)/?"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Join Code Stream session {code}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; max-width: 40em;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
code, .cs-code {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }}
.cs-code {{ font-size: 2.5em; font-weight: 700; letter-spacing: 0.1em; color: #0b3d91; }}
</style></head>
<body><main>
<h1>Join session <span class="cs-code">{code}</span></h1>
{status}
<ol>
<li>Open JupyterLab on your own computer.</li>
<li>In the launcher, open <b>Code Stream — Student</b>.</li>
<li>Copy this page's <b>whole address</b> from the address bar (the part after <code>#</code> is the
session key) and paste it into <b>Join link</b>, then press <b>Join</b>.</li>
</ol>
<p>Keep the link to yourself and your class: it lets its holder follow this session.</p>
</main></body></html>
"""


class JoinPageHandler(JupyterHandler):
    service = None

    def initialize(self, **services):
        self.service = services.get("service")

    def write_error(self, status_code: int, **kwargs) -> None:
        """A plain page: Jupyter's error template would render the page config of the caller
        (its token, when a logged-in teacher sends the wrong method)."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: this page only answers GET.\n" if status_code == 405
                    else f"{status_code}: the page failed; the server log has the details.\n")

    def _limit_key(self):
        limiter = self.service.limiter
        return limiter.limit_key(self.request.remote_ip or "?", None)

    @allow_unauthenticated
    async def get(self, code):
        limiter = self.service.limiter
        if limiter.blocked(self._limit_key()):
            self.set_status(429)
            self.set_header("Retry-After", str(int(limiter.window)))
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(PAGE.format(code="?", status="<p><b>Too many requests (too_many_requests):</b> this"
                                                     " address looked up too many codes that name no session."
                                                     " Wait a minute, then open your teacher's link again.</p>"))
            return
        try:
            code = normalize_session_code(code)
        except CodeStreamError:
            self.set_status(400)
            self.finish(PAGE.format(code="?", status="<p><b>This link has no valid session code.</b> Ask your"
                                                     " teacher for the link again.</p>"))
            return
        status = ""
        try:
            await self.service.get_session_record(code)
        except CodeStreamError as exc:
            if isinstance(exc, SessionNotFound):
                limiter.record_failure(self._limit_key())
            self.set_status(404)
            status = ("<p><b>There is no live session with this code.</b> It may have ended; ask your teacher"
                      " for the current link.</p>")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.finish(PAGE.format(code=escape(code), status=status))


def join_handlers(**services) -> list[tuple]:
    return [(JOIN_ROUTE, JoinPageHandler, services)]
