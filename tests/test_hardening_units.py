"""Pure pieces of issue 20 part 2 (the real-server tests are test_stream_address_caps.py,
test_hub_hardening.py and test_hub_autopublish.py): whose address counts, the kept publish
failures, the membership audit's verdicts."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_ext.domain import Forbidden
from jupyter_ext.store.listener import Listener
from jupyter_ext.hub.errors import HubUnavailable
from jupyter_ext.hub.identity import HubUser
from jupyter_ext.domain import SessionAccess
from jupyter_ext.hub.recheck import MemberGrant, MembershipAudit
from jupyter_ext.relay.addresses import client_ip, parse_networks
from jupyter_ext.services.publish_failures import PublishFailures
from jupyter_ext.services.stream_caps import StreamCaps, limit_for, stream_budget


def test_only_a_trusted_proxy_is_believed_and_only_for_the_hops_it_appended():
    proxies = parse_networks("10.0.0.0/24, fd00::1")
    assert client_ip("192.0.2.5", "198.51.100.1", proxies) == "192.0.2.5"  # not a proxy: headers ignored
    assert client_ip("192.0.2.5", "198.51.100.1", ()) == "192.0.2.5"
    assert client_ip("10.0.0.7", "6.6.6.6, 198.51.100.1", proxies) == "198.51.100.1"  # the hop it appended
    assert client_ip("10.0.0.7", "6.6.6.6, 198.51.100.1, 10.0.0.9", proxies) == "198.51.100.1"  # proxy chain
    assert client_ip("10.0.0.7", "not-an-ip", proxies) == "10.0.0.7"
    assert client_ip("10.0.0.7", None, proxies) == "10.0.0.7"
    assert client_ip("fd00::1", "2001:db8::5", proxies) == "2001:db8::5"
    with pytest.raises(ValueError, match="not an IP"):
        parse_networks("10.0.0.0/24, proxy.example")


def test_caps_fit_their_open_file_budget():
    for streams in (1, 64, 1000, 10_000):
        assert stream_budget(limit_for(streams)) >= streams
    assert stream_budget(1024) == 768
    with pytest.raises(ValueError):
        StreamCaps(max_streams_per_address=0)


def test_publish_failures_are_kept_per_cell_until_it_goes_out():
    failures = PublishFailures(max_per_session=2)
    failures.record("ABCDEF", "c1", "a.ipynb", code="payload_too_large", message="too big", number=1)
    failures.record("ABCDEF", "c1", "a.ipynb", code="hub_unavailable", message="no hub", number=1)
    assert [(f["cell_id"], f["code"]) for f in failures.of("ABCDEF")] == [("c1", "hub_unavailable")]
    failures.record("ABCDEF", "c2", "b.ipynb", code="x", message="m")
    failures.record("ABCDEF", "c3", "b.ipynb", code="x", message="m")
    assert [f["cell_id"] for f in failures.of()] == ["c2", "c3"], "the oldest goes past the limit"
    assert failures.notebooks("ABCDEF") == {"b.ipynb"}
    failures.clear("ABCDEF", "c2")
    failures.clear("ABCDEF", "c3")
    assert failures.of() == [] and failures.notebooks() == set()


class FakeIdentities:
    def __init__(self, answers):
        self.answers = answers

    async def identify(self, token):
        answer = self.answers[token]
        if isinstance(answer, Exception):
            raise answer
        return answer


def granted(user: str, token: str) -> Listener:
    listener = Listener("ABCDEF", "0-0")
    listener.grant = MemberGrant(user, token)
    return listener


def test_the_audit_closes_only_readers_who_may_no_longer_read():
    access = SessionAccess("ABCDEF", owner="teacher1", group="algebra")
    identities = FakeIdentities({
        "stays": HubUser("s1", frozenset({"algebra"}), False),
        "left": HubUser("s2", frozenset(), False),
        "hub-down": HubUnavailable("JupyterHub did not answer in time."),
        "no-scope": Forbidden("no access"),
        "gone": None,
    })

    async def lookup(code):
        return access

    audit = MembershipAudit(identities, lookup)
    listeners = [granted("s1", "stays"), granted("s2", "left"), granted("s3", "hub-down"),
                 granted("s4", "no-scope"), granted("s5", "gone"), granted("s2", "left")]
    stale = asyncio.run(audit("ABCDEF", listeners))
    assert [listener.grant.user for listener in stale] == ["s2", "s4", "s5", "s2"]
    assert "left" not in repr(listeners[1].grant), "a grant never shows its token"
