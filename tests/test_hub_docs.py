"""The hub set-ups in docs/: each is run the way JupyterHub runs it (the config file's code
executed against a traitlets Config), and what it configured is read back through JupyterHub's
own classes. The Zero to JupyterHub values file is loaded with yaml.safe_load first."""

from pathlib import Path

import pytest
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.spawner import Spawner
from traitlets.config import Config

from jupyter_ext.hub import HUB_SERVICE_URL_ENV, TEACH_SCOPE

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"


def run_config(source: str, name: str, env: dict | None = None, monkeypatch=None) -> Config:
    c = Config()
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    exec(compile(source, name, "exec"), {"c": c, "get_config": lambda: c, "__name__": "__main__"})
    return c


def check_hub(c: Config, *, redis_url: str | None) -> JupyterHub:
    hub = JupyterHub(config=c)
    service = next(s for s in hub.services if s["name"] == "codestream")
    assert service["command"][-1] == "hub-service"
    assert service["environment"].get("CODESTREAM_REDIS_URL") == redis_url
    assert any(r["name"] == "codestream-teachers" and r["scopes"] == [TEACH_SCOPE] for r in hub.load_roles)
    assert TEACH_SCOPE in hub.custom_scopes and "teachers" in hub.load_groups
    spawner = Spawner(config=c)
    assert HUB_SERVICE_URL_ENV in spawner.environment
    assert not any("redis" in str(value).lower() for value in spawner.environment.values())
    return hub


def test_docker_compose_hub_config(monkeypatch):
    c = run_config((DEPLOY / "jupyterhub_config.py").read_text(), "jupyterhub_config.py")
    hub = check_hub(c, redis_url="redis://redis:6379/0")
    assert hub.load_groups["teachers"] == {"users": ["teacher"]}


def test_tljh_snippet(monkeypatch):
    c = run_config((DEPLOY / "tljh" / "codestream.py").read_text(), "codestream.py")
    hub = check_hub(c, redis_url=None)
    service = next(s for s in hub.services if s["name"] == "codestream")
    assert service["environment"]["CODESTREAM_SERVICE_DATA_DIR"] == "/opt/tljh/state/codestream"


def test_zero_to_jupyterhub_values(monkeypatch):
    values = yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())
    hub_values = values["hub"]
    assert "CODESTREAM_REDIS_URL" in hub_values["extraEnv"]
    assert "secretKeyRef" in hub_values["extraEnv"]["CODESTREAM_REDIS_URL"]["valueFrom"]
    assert "extraEnv" not in values.get("singleuser", {})  # the users' pods never get it
    source = hub_values["extraConfig"]["codestream"]
    c = run_config(source, "hub.extraConfig.codestream",
                   {"CODESTREAM_REDIS_URL": "redis+cluster://:pw@redis-0.redis:6379"}, monkeypatch)
    hub = check_hub(c, redis_url="redis+cluster://:pw@redis-0.redis:6379")
    service = next(s for s in hub.services if s["name"] == "codestream")
    port = hub_values["service"]["extraPorts"][0]["port"]
    assert service["url"] == f"http://hub:{port}"
    assert service["environment"]["CODESTREAM_SERVICE_BIND"] == f"0.0.0.0:{port}"
    assert Spawner(config=c).environment[HUB_SERVICE_URL_ENV] == f"http://hub:{port}/services/codestream/"
    assert hub_values["networkPolicy"]["ingress"][0]["ports"] == [{"port": port}]
    assert values["singleuser"]["networkPolicy"]["egress"][0]["ports"] == [{"port": port}]


def test_external_service_never_sees_redis():
    from jupyter_ext.hub import configure_jupyterhub

    c = Config()
    configure_jupyterhub(c, service_url="http://codestream:10101", api_token="t" * 32)
    service = JupyterHub(config=c).services[0]
    assert service == {"name": "codestream", "url": "http://codestream:10101", "display": False,
                       "oauth_no_confirm": True, "api_token": "t" * 32}
    with pytest.raises(ValueError, match="Redis URL"):
        configure_jupyterhub(Config(), redis_url="redis://r:6379/0", api_token="t" * 32)


def test_install_lines_name_the_distribution_not_the_unrelated_codestream():
    """``codestream`` on PyPI is another project: every install line names ``jupyter-codestream``."""
    import re

    docs = DEPLOY.parent
    texts = {path: path.read_text() for path in [*docs.rglob("*.md"), *DEPLOY.rglob("*")] if path.is_file()}
    texts[docs.parent / "README.md"] = (docs.parent / "README.md").read_text()
    wrong = re.compile(r"""(pip|conda|mamba)\s+install[^\n#]*?(?<![\w-])["']?codestream(\[|["'\s]|$)""", re.M)
    offenders = {str(path): m.group(0) for path, text in texts.items() for m in [wrong.search(text)] if m}
    assert not offenders, offenders
    assert "jupyter-codestream" in (DEPLOY / "tljh" / "codestream.py").read_text()
