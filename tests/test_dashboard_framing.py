"""The dashboards, launched for real by jupyter-server-proxy (issue 20, item 8):

- their pages may be framed only by their own origin (``Content-Security-Policy:
  frame-ancestors 'self'``): JupyterLab's tab, never another site's page;
- a dashboard opened with ``?token=...`` in its URL keeps the Jupyter token out of its HTML,
  also out of the Bokeh session token written into the page (whose ``arguments`` used to carry
  every query argument, the token included).
"""

from __future__ import annotations

import json

from test_launcher import APP_TIMEOUT, PROXY_NAME, session_token_payload


def test_the_dashboard_may_be_framed_only_by_its_own_origin(cs_teacher):
    r = cs_teacher.client(timeout=APP_TIMEOUT).get(f"{PROXY_NAME}/")
    assert r.status_code == 200, r.text[:300]
    assert "frame-ancestors 'self'" in r.headers.get("content-security-policy", ""), dict(r.headers)
    assert r.headers.get("x-frame-options") == "SAMEORIGIN"


def test_a_token_in_the_dashboards_url_stays_out_of_its_page(cs_teacher):
    browser = cs_teacher.client(auth=False, timeout=APP_TIMEOUT)  # no header: the token is in the URL
    r = browser.get(f"{PROXY_NAME}/", params={"token": cs_teacher.token, "session": "ABC234"})
    assert r.status_code == 200, r.text[:300]
    assert "<title>Code Stream — Teacher</title>" in r.text
    assert cs_teacher.token not in r.text
    carried = session_token_payload(r.text)
    assert cs_teacher.token not in carried, carried[:500]
    # the arguments' values are base64 in the payload: the token's name is what must be gone
    arguments = json.loads(carried)["arguments"]
    assert sorted(arguments) == ["session"], "other query arguments (the hub's ?session=) still reach the app"
