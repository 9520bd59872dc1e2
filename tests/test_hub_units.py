"""Small parts of the hub support, without a hub: the single-user server's client of the service
(a service that is not there is 503 hub_unavailable, at once), join links, session access."""

import pytest

from jupyter_ext.domain import InvalidInput, InvalidSessionCode
from jupyter_ext.hub.client import HubLink, HubServiceClient
from jupyter_ext.hub.errors import HubUnavailable
from jupyter_ext.domain import SessionAccess
from jupyter_ext.hub.student import code_from_join_link
from jupyter_ext.pytest_plugin import free_port


async def test_a_service_that_does_not_answer_is_hub_unavailable():
    link = HubLink(f"http://127.0.0.1:{free_port()}/services/codestream/", "secret-hub-token-123")
    client = HubServiceClient(link, connect_timeout=1.0, read_timeout=1.0)
    try:
        with pytest.raises(HubUnavailable) as caught:
            await client.own_sessions()
        assert caught.value.status == 503 and "secret-hub-token" not in caught.value.message
    finally:
        await client.aclose()


def test_hub_link_only_under_a_configured_hub():
    assert HubLink.from_env({}) is None
    assert HubLink.from_env({"JUPYTERHUB_API_TOKEN": "t"}) is None  # a hub without the service
    link = HubLink.from_env({"JUPYTERHUB_API_TOKEN": "tok-9f3a2b", "CODESTREAM_HUB_SERVICE_URL": "http://h:1/services/codestream"})
    assert link.service_url == "http://h:1/services/codestream/" and link.token == "tok-9f3a2b"
    assert "tok-9f3a2b" not in repr(link)


def test_join_links():
    assert code_from_join_link("https://hub.example.org/hub/user-redirect/codestream-student/?session=abc234") == "ABC234"
    assert code_from_join_link("/hub/user-redirect/codestream-student/?session=K7QX2M") == "K7QX2M"
    with pytest.raises(InvalidInput):
        code_from_join_link("https://evil.example/?session=K7QX2M")
    with pytest.raises(InvalidSessionCode):
        code_from_join_link("https://hub.example.org/hub/user-redirect/codestream-student/?session=O0O0O")


def test_who_may_read():
    grouped = SessionAccess("K7QX2M", owner="teacher1", group="algebra")
    assert grouped.may_read("teacher1", frozenset())
    assert grouped.may_read("student1", frozenset({"algebra"}))
    assert not grouped.may_read("outsider", frozenset({"geometry"}))
    open_to_hub = SessionAccess("K7QX2N", owner="teacher1", group="")
    assert open_to_hub.may_read("anyone", frozenset())


def test_the_hub_service_and_the_hub_config_load_no_jupyter_server():
    from test_layers import modules_loaded_by

    loaded = modules_loaded_by("import jupyter_ext.hub, jupyter_ext.hub.service")
    assert "jupyter_ext.hub.service" in loaded and "jupyter_ext.web.core" in loaded
    assert not {m for m in loaded if m == "jupyter_server" or m.startswith("jupyter_server.")}
    config_only = modules_loaded_by("import jupyter_ext.hub")  # what jupyterhub_config.py imports
    assert not {m for m in config_only if m.startswith(("jupyter_server", "tornado", "redis"))}
