"""configure_jupyterhub adds to what the admin configured and never replaces it (pure unit tests
on a traitlets Config, read back through JupyterHub's own classes)."""

import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.spawner import Spawner
from traitlets.config import Config

from jupyter_ext.hub import HUB_SERVICE_URL_ENV, TEACH_SCOPE, configure_jupyterhub
from jupyter_ext.hub.config import SERVER_ROLE_SCOPES


def admin_config() -> Config:
    c = Config()
    c.JupyterHub.services = [{"name": "announcements", "url": "http://127.0.0.1:9999"}]
    c.JupyterHub.load_roles = [{"name": "graders", "scopes": ["read:users"], "groups": ["tas"]}]
    c.JupyterHub.custom_scopes = {"custom:grades:read": {"description": "read grades"}}
    c.JupyterHub.load_groups = {"tas": {"users": ["ann"]}, "teachers": {"users": ["tom"]}}
    c.JupyterHub.extra_user_scopes = {"read:groups:name"}
    c.Spawner.environment = {"TZ": "Europe/Zurich"}
    c.Spawner.server_token_scopes = ["users:activity!user", "read:users:name!user"]
    return c


def test_adds_to_everything_the_admin_configured():
    c = admin_config()
    configure_jupyterhub(c, redis_url="redis://:s3cret-pass@redis.internal:6379/0", port=10555)
    hub = JupyterHub(config=c)
    assert [s["name"] for s in hub.services] == ["announcements", "codestream"]
    assert [r["name"] for r in hub.load_roles] == ["graders", "codestream-teachers", "codestream-service"]
    teachers = hub.load_roles[1]
    assert teachers["scopes"] == [TEACH_SCOPE] and teachers["groups"] == ["teachers"]
    assert set(hub.custom_scopes) == {"custom:grades:read", TEACH_SCOPE}
    assert hub.load_groups["teachers"] == {"users": ["tom"]}  # kept, not emptied
    assert hub.load_groups["tas"] == {"users": ["ann"]}
    assert hub.extra_user_scopes == {"read:groups:name", "access:services!service=codestream"}
    spawner = Spawner(config=c)
    assert spawner.environment["TZ"] == "Europe/Zurich"
    assert spawner.environment[HUB_SERVICE_URL_ENV] == "http://127.0.0.1:10555/services/codestream/"
    assert spawner.server_token_scopes[:2] == ["users:activity!user", "read:users:name!user"]
    assert {"access:services!service=codestream", "read:users:groups!user", TEACH_SCOPE} <= set(
        spawner.server_token_scopes)
    service = hub.services[1]
    assert service["url"] == "http://127.0.0.1:10555"
    assert service["environment"]["CODESTREAM_REDIS_URL"].startswith("redis://")
    assert service["command"][-1] == "hub-service"


def test_the_redis_url_reaches_only_the_service():
    c = admin_config()
    configure_jupyterhub(c, redis_url="redis://:s3cret-pass@redis.internal:6379/0")
    spawner = Spawner(config=c)
    assert not any("s3cret-pass" in str(v) or "redis" in str(v).lower()
                   for v in spawner.environment.values())
    assert all("s3cret" not in scope for scope in spawner.server_token_scopes)


def test_defaults_on_an_empty_config():
    c = Config()
    configure_jupyterhub(c)
    hub = JupyterHub(config=c)
    assert [s["name"] for s in hub.services] == ["codestream"]
    assert "CODESTREAM_REDIS_URL" not in hub.services[0]["environment"]  # embedded Redis
    assert hub.load_groups == {"teachers": {"users": []}}
    spawner = Spawner(config=c)
    assert list(spawner.server_token_scopes[:2]) == list(SERVER_ROLE_SCOPES)  # JupyterHub's default kept


def test_lazy_appends_and_callables_are_kept():
    c = Config()
    c.JupyterHub.services.append({"name": "other", "api_token": "x" * 32})
    c.Spawner.environment.update({"A": "1"})
    c.Spawner.server_token_scopes = lambda spawner: ["users:activity!user"]
    configure_jupyterhub(c, teachers_group="staff", service_name="cs", port=10777)
    hub = JupyterHub(config=c)
    assert [s["name"] for s in hub.services] == ["other", "cs"]
    spawner = Spawner(config=c)
    assert spawner.environment["A"] == "1"
    assert spawner.environment[HUB_SERVICE_URL_ENV].endswith("/services/cs/")
    assert spawner.server_token_scopes(spawner) == [
        "users:activity!user", "access:services!service=cs", "read:users:groups!user",
        "read:users:name!user", TEACH_SCOPE]
    assert hub.load_groups == {"staff": {"users": []}}


def test_base_url_and_a_taken_name():
    c = Config()
    c.JupyterHub.base_url = "/jhub/"
    configure_jupyterhub(c, port=10888)
    assert Spawner(config=c).environment[HUB_SERVICE_URL_ENV] == "http://127.0.0.1:10888/jhub/services/codestream/"
    again = Config()
    again.JupyterHub.services = [{"name": "codestream", "url": "http://x:1"}]
    with pytest.raises(ValueError, match="already"):
        configure_jupyterhub(again)
    assert [s["name"] for s in again.JupyterHub.services] == ["codestream"]


def test_jupyterhub_5_gets_the_access_scope_on_the_user_role():
    from jupyter_ext.hub.config import _grant_every_user

    c = Config()
    _grant_every_user(c.JupyterHub, "access:services!service=codestream", major=5)
    assert c.JupyterHub.load_roles == [{"name": "user", "scopes": ["self", "access:services!service=codestream"]}]
    kept = Config()
    kept.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "read:groups"]}]
    _grant_every_user(kept.JupyterHub, "access:services!service=codestream", major=5)
    assert kept.JupyterHub.load_roles == [
        {"name": "user", "scopes": ["self", "read:groups", "access:services!service=codestream"]}]


@pytest.mark.parametrize("base_url, public_url, expected", [
    (None, None, None),
    (None, "https://hub.example.org", "https://hub.example.org/hub/"),
    ("/jhub/", "https://hub.example.org/jhub/", "https://hub.example.org/jhub/hub/"),
    ("/jhub/", "https://hub.example.org", "https://hub.example.org/jhub/hub/"),  # JupyterHub adds it too
])
def test_the_public_hub_url_for_join_links(base_url, public_url, expected):
    c = Config()
    if base_url:
        c.JupyterHub.base_url = base_url
    if public_url:
        c.JupyterHub.public_url = public_url
    service = configure_jupyterhub(c)
    assert service["environment"].get("CODESTREAM_PUBLIC_HUB_URL") == expected


def test_join_links_of_the_service():
    from jupyter_ext.hub.access import HubContext
    from jupyter_ext.hub.service import HubServiceConfig

    def link(**hub):
        config = HubServiceConfig(redis_url="", data_dir="", **hub)
        return HubContext(config, service=None, identities=None).join_link("K7QX2M")

    assert link() == "/hub/user-redirect/codestream-student/?session=K7QX2M"
    assert link(hub_base_url="/jhub/") == "/jhub/hub/user-redirect/codestream-student/?session=K7QX2M"
    assert link(public_hub_url="https://hub.example.org/jhub/hub/") == (
        "https://hub.example.org/jhub/hub/user-redirect/codestream-student/?session=K7QX2M")


def test_the_service_data_lives_in_the_hubs_data_directory(tmp_path, monkeypatch):
    """Issue 24 item 5: beside the hub's database (its state), not in whatever folder the hub
    was started from."""
    from traitlets.config import Config

    from jupyter_ext.hub import configure_jupyterhub
    from jupyter_ext.hub.config import SERVICE_DATA_DIR_ENV

    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = Config()
    c.JupyterHub.db_url = f"sqlite:///{tmp_path / 'state' / 'jupyterhub.sqlite'}"
    service = configure_jupyterhub(c)
    assert service["environment"][SERVICE_DATA_DIR_ENV] == str(tmp_path / "state" / "codestream-service")

    c = Config()
    c.JupyterHub.db_url = "postgresql://hub@db/jupyterhub"
    c.JupyterHub.cookie_secret_file = str(tmp_path / "srv" / "cookie_secret")
    assert configure_jupyterhub(c)["environment"][SERVICE_DATA_DIR_ENV] == str(tmp_path / "srv" / "codestream-service")
    assert configure_jupyterhub(Config())["environment"][SERVICE_DATA_DIR_ENV] == str(elsewhere / "codestream-service")
    explicit = configure_jupyterhub(Config(), data_dir=str(tmp_path / "mine"))
    assert explicit["environment"][SERVICE_DATA_DIR_ENV] == str(tmp_path / "mine")
