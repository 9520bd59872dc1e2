"""Stateless read relays (``codestream relay``) over one real Redis, beside a real teacher server.

The teacher writes through their own Jupyter server; students read from relay processes that
share nothing but Redis. A student whose relay goes away resumes on another one with
``Last-Event-ID`` and misses nothing.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml

from jupyter_ext.testing import create_session, publish, wait_until
from jupyter_ext.relay import parse_args
from relay_fixtures import ResumingStudent

REPO = Path(__file__).resolve().parent.parent


def stream_ids(redis_url: str, code: str) -> list[str]:
    """Test-only inspection: every id in the session's Redis stream (the ground truth)."""
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [entry_id for entry_id, _ in raw.xrange(f"codestream:{{{code}}}:events")]
    finally:
        raw.close()


def summary(events: list[dict]) -> list[tuple]:
    out = []
    for event in events:
        data = json.loads(event["data"])
        out.append((event["event"], data.get("cell_id"), data.get("version")))
    return out


def test_two_relays_every_student_gets_every_event(cs_redis, cs_relay_factory, cs_jupyter_server_factory):
    relays = [cs_relay_factory(cs_redis.url) for _ in range(2)]
    server = cs_jupyter_server_factory(
        "teacher", env={"CODESTREAM_REDIS_URL": cs_redis.url},
        args=[f"--CodeStreamApp.relay_url=http://127.0.0.1:{relays[0].port}"])
    teacher = server.client()
    session = create_session(teacher, title="Big lecture")
    code, key = session["code"], session["student_key"]
    assert session["relay_url"] == relays[0].url  # the trait, normalised, on every new session

    students = [ResumingStudent([relays[i % 2].url, relays[(i + 1) % 2].url], code, key, f"student-{i}")
                for i in range(6)]
    for student in students:
        assert student.connected.wait(15), f"{student.thread.name} did not connect"
    for relay in relays:  # split 3/3: each relay serves its own students' streams
        assert relay.client().get("readyz").json()["open_streams"] == 3

    expected = []
    for i in range(10):
        publish(teacher, code, f"c{i}", f"print({i})", i)
        expected.append(("published", f"c{i}", 1))
    for i in (2, 5, 7):
        publish(teacher, code, f"c{i}", f"print({i} * 2)", i)
        expected.append(("updated", f"c{i}", 2))
    for i in (3, 8):
        assert teacher.delete(f"codestream/api/sessions/{code}/cells/c{i}").status_code == 204
        expected.append(("unpublished", f"c{i}", 1))
    truth = stream_ids(cs_redis.url, code)
    assert len(truth) == len(expected)

    for student in students:
        events = student.wait_for(len(expected))
        assert summary(events) == expected, student.thread.name
        assert [e["id"] for e in events] == truth
        assert len(student.connections) == 1  # nobody had to reconnect

    # the relays read the same Redis the teacher writes: same listing, relay_url advertised
    listing = teacher.get(f"codestream/api/sessions/{code}/cells").json()
    assert listing["relay_url"] == relays[0].url
    assert all(cell.pop("pulls") == {} and cell.pop("runs") == {"ok": 0, "error": 0, "errors": {}}
               for cell in listing["cells"])  # the teacher's alone
    for relay in relays:
        assert relay.client(key).get(f"codestream/api/sessions/{code}/cells").json() == listing
    # presence written by both relays reaches the teacher's session list
    sessions = teacher.get("codestream/api/sessions").json()["sessions"]
    mine = next(s for s in sessions if s["code"] == code)
    assert mine["students"] == 6 and mine["relay_url"] == relays[0].url

    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
    for student in students:
        assert student.wait_done()[-1]["event"] == "session_ended"


@pytest.mark.parametrize("how", ["killed", "terminated"])
def test_students_of_a_stopped_relay_resume_on_the_other_and_lose_nothing(
        cs_teacher, cs_module_redis, cs_relay_factory, how):
    relay_a, relay_b = [cs_relay_factory(cs_module_redis.url) for _ in range(2)]
    teacher = cs_teacher.client()
    session = create_session(teacher, relay_url="http://Relays.Example.org:8080")
    code, key = session["code"], session["student_key"]
    assert session["relay_url"] == "http://relays.example.org:8080/"  # the body's own, normalised

    on_a = [ResumingStudent([relay_a.url, relay_b.url], code, key, f"a-{i}") for i in range(2)]
    on_b = [ResumingStudent([relay_b.url, relay_a.url], code, key, f"b-{i}") for i in range(2)]
    for student in on_a + on_b:
        assert student.connected.wait(15)

    n_cells = 40
    publisher_client = cs_teacher.client()
    published = threading.Event()

    def publish_all():
        for i in range(n_cells):
            publish(publisher_client, code, f"c{i}", f"x = {i}", i)
        published.set()

    publisher = threading.Thread(target=publish_all, daemon=True)
    publisher.start()
    for student in on_a:
        student.wait_for(8)
    relay_a.stop(signal.SIGKILL if how == "killed" else signal.SIGTERM)
    publisher.join(60)
    assert published.is_set()
    truth = stream_ids(cs_module_redis.url, code)
    assert len(truth) == n_cells

    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
    expected = [("published", f"c{i}", 1) for i in range(n_cells)] + [("session_ended", None, None)]
    for student in on_a + on_b:
        events = student.wait_done()
        assert summary(events) == expected, student.thread.name  # nothing lost, nothing twice
        assert [e["id"] for e in events[:-1]] == truth
    for student in on_a:
        (first_url, first_resume), (second_url, resumed_from) = student.connections[:2]
        assert (first_url, first_resume) == (relay_a.url, None)
        assert second_url == relay_b.url
        had = student.had_before[1]
        assert had >= 8 and resumed_from == student.events[had - 1]["id"], \
            "resumed from the last event it had received"
    for student in on_b:
        assert student.connections == [(relay_b.url, None)]
    if how == "terminated":  # graceful: streams closed on purpose, clean exit, logged
        assert relay_a.returncode == 0
        stopped = [r for r in relay_a.log_records() if r.get("event") == "stopped"]
        assert stopped and stopped[0]["closed_streams"] == 2 and stopped[0]["drained"] is True


def test_relay_answers_like_the_teacher_server(cs_teacher, cs_module_redis, cs_relay_factory):
    relay = cs_relay_factory(cs_module_redis.url)
    teacher = cs_teacher.client()
    session, other = create_session(teacher, title="T"), create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "b", "# B", 2, "markdown")
    publish(teacher, code, "a", "x = 1", 1)

    cases = [
        (key, f"codestream/api/sessions/{code}/cells"),
        (key, f"codestream/api/sessions/{code.lower()}/cells/"),
        (key, f"codestream/api/sessions/{code}/cells/a"),
        (key, f"codestream/api/sessions/{code}/cells/nope"),
        (key, f"codestream/api/sessions/{code}/cells/bad%20id"),
        (key, "codestream/api/sessions/ABC/cells"),
        (key, "codestream/api/sessions/ABCDEF/cells"),
        (other["student_key"], f"codestream/api/sessions/{code}/cells"),
        (None, f"codestream/api/sessions/{code}/cells"),
        (None, f"codestream/api/sessions/{code}/events"),
    ]
    statuses = set()
    for credential, path in cases:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        there = cs_teacher.client(auth=False, headers=headers).get(path)
        here = relay.client(credential).get(path)
        assert here.status_code == there.status_code, (path, here.text, there.text)
        if here.status_code == 200:
            assert here.json() == there.json(), path
        else:
            assert here.json()["error"]["code"] == there.json()["error"]["code"], path
            assert here.json()["error"]["message"]
        statuses.add(here.status_code)
    assert statuses >= {200, 400, 401, 404}

    student = relay.client(key)
    # the relay checks Redis on every request: a rotated key fails there at once
    new_key = teacher.post(f"codestream/api/sessions/{code}/key").json()["student_key"]
    assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 401
    assert relay.client(new_key).get(f"codestream/api/sessions/{code}/cells/a").json()["source"] == "x = 1"
    # read routes only: writes and anything else get the contract's error shape
    r = relay.client(new_key).put(f"codestream/api/sessions/{code}/cells/a",
                                  json={"source": "", "cell_type": "code", "position": 0})
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = relay.client(new_key).get("codestream/api/sessions")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert relay.client().get("healthz").json() == {"status": "ok"}

    relay.stop()
    records = relay.log_records()
    lines = [line for line in relay.log_text().splitlines() if line.strip()]
    assert records and len(records) == len(lines), "every log line is one JSON object"
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    access = [r for r in records if r["logger"] == "codestream.relay.access"]
    assert {(r["method"], r["status"]) for r in access} >= {("GET", 200), ("GET", 401), ("PUT", 405)}
    assert any(r.get("event") == "listening" and r["port"] == relay.port for r in records)


def test_relay_readiness_follows_redis(cs_redis, cs_relay_factory):
    relay = cs_relay_factory(cs_redis.url, base_url="/cs-relay/")
    probe = relay.client()
    assert probe.get("healthz").status_code == 200
    assert probe.get("readyz").json()["status"] == "ready"
    cs_redis.stop()
    r = probe.get("readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
    r = relay.client("some-student-key").get("codestream/api/sessions/ABCDEF/cells")
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
    assert probe.get("healthz").status_code == 200  # alive: only not ready
    cs_redis.start()
    wait_until(lambda: probe.get("readyz").status_code == 200, 20, interval=0.2, what="ready again")


def test_relay_command_line():
    config = parse_args(["--port", "9000", "--redis", "redis+cluster://r1:7000,r2:7001", "--base-url",
                         "relay", "--heartbeat-seconds", "60"], environ={})
    assert (config.port, config.base_url, config.heartbeat_seconds) == (9000, "/relay/", 15.0)
    assert (config.redis_max_connections, config.redis_stream_connections) == (100, 1000)
    assert parse_args([], environ={"CODESTREAM_REDIS_URL": "redis://r:6379/0"}).redis_url == "redis://r:6379/0"
    for argv in ([], ["--redis", "http://r:6379"], ["--redis", "redis+cluster://r:7000/3"],
                 ["--redis", "redis://r", "--port", "70000"]):
        with pytest.raises(SystemExit) as exited:
            parse_args(argv, environ={})
        assert exited.value.code == 2


# -- the deployment example in docs/ ----------------------------------------------------------
def test_deployment_example_is_consistent():
    """docs/deploy: the YAML parses; the relay commands are ones the relay accepts; ports, the
    Redis URL, probes, the load balancer's upstream and the advertised relay_url agree."""
    deploy = REPO / "docs" / "deploy"
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "relay", "relay-lb", "jupyterhub"} <= set(services)
    for name in ("relay", "jupyterhub"):  # built from the repository with the Dockerfile here
        build = services[name]["build"]
        assert (deploy / build["context"]).resolve() == REPO
        assert (deploy / build["context"] / build["dockerfile"]).resolve() == deploy / "Dockerfile"

    relay = services["relay"]
    assert relay["command"][:2] == ["codestream", "relay"]
    config = parse_args(relay["command"][2:], environ={})  # exits on anything the relay refuses
    assert config.address == "0.0.0.0" and config.xheaders
    redis_url = urlsplit(config.redis_url)
    assert (redis_url.hostname, redis_url.port) == ("redis", 6379)
    assert "--port" in services["redis"]["command"] and "6379" in services["redis"]["command"]
    assert str(config.port) in relay["expose"] and relay["deploy"]["replicas"] >= 2
    probe = " ".join(relay["healthcheck"]["test"])
    assert f"http://127.0.0.1:{config.port}{config.base_url}readyz" in probe
    assert relay.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert _seconds(relay["stop_grace_period"]) > config.drain_seconds

    nginx = (deploy / "nginx-relay.conf").read_text()
    assert f"server relay:{config.port}" in nginx
    lb_port = services["relay-lb"]["expose"][0]
    assert f"listen {lb_port};" in nginx
    for directive in ("proxy_buffering off", "proxy_read_timeout 60s", "X-Forwarded-For",
                      "proxy_next_upstream error timeout http_502 http_503"):
        assert directive in nginx

    hub_config = (deploy / "jupyterhub_config.py").read_text()
    server_config = (deploy / "jupyter_server_config.py").read_text()
    compile(hub_config, "jupyterhub_config.py", "exec")
    compile(server_config, "jupyter_server_config.py", "exec")
    assert f'configure_jupyterhub(c, redis_url="{config.redis_url}"' in hub_config
    assert "Spawner.environment" not in hub_config.replace("never into Spawner.environment", "")
    assert f'c.CodeStreamApp.relay_url = "http://relay-lb:{lb_port}/"' in server_config
    mounted = " ".join(services["jupyterhub"]["volumes"])
    assert "./jupyter_server_config.py:" in mounted and "./jupyterhub_config.py:" in mounted

    k8s = [doc for doc in yaml.safe_load_all((deploy / "kubernetes.yaml").read_text()) if doc]
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in k8s}
    assert {("Deployment", "codestream-relay"), ("Service", "codestream-relay")} <= kinds
    deployment = next(d for d in k8s if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["codestream", "relay"]
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["CODESTREAM_REDIS_URL"]["valueFrom"]
    k8s_config = parse_args(container["args"], environ={"CODESTREAM_REDIS_URL": "redis://r:6379/0"})
    assert k8s_config.address == "0.0.0.0"
    assert container["ports"][0]["containerPort"] == k8s_config.port
    for probe_name, path in (("readinessProbe", "readyz"), ("livenessProbe", "healthz")):
        assert container[probe_name]["httpGet"] == {"path": k8s_config.base_url + path, "port": k8s_config.port}
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > pause + k8s_config.drain_seconds
    service = next(d for d in k8s if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == k8s_config.port
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def _seconds(text: str) -> float:
    text = str(text)
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text.removesuffix("s"))
