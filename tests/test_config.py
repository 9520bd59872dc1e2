"""One configuration model (issue 21 item 3): the options the Jupyter extension, ``codestream
relay`` and ``codestream hub-service`` share are traits defined once (``jupyter_ext.config``);
the two standalone programs' flags are generated from those very traits; every option says
what it does and its default; the flags the docs and deployments use keep working."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from jupyter_ext.app import CodeStreamApp
from jupyter_ext.config import CellSizeLimits, KeyLimits, ListenOptions, LogOptions, RedisOptions, StreamLimits
from jupyter_ext.hub.service_config import HubServiceApp, HubServiceConfig
from jupyter_ext.hub.service_config import parse_args as hub_parse_args
from jupyter_ext.relay.config import RelayApp, RelayConfig
from jupyter_ext.relay.config import parse_args as relay_parse_args

PROGRAMS = {"extension": CodeStreamApp, "relay": RelayConfig, "hub service": HubServiceConfig}
HUB_ENV = {"JUPYTERHUB_API_TOKEN": "hub-token-not-printed", "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10101",
           "JUPYTERHUB_SERVICE_PREFIX": "/services/codestream/"}
# what the argparse command lines accepted (docs/, README.md, z2jh and compose files, tests, bench use them)
RELAY_FLAGS_BEFORE = {
    "port", "address", "redis", "base-url", "xheaders", "heartbeat-seconds", "event-block-ms",
    "redis-max-connections", "redis-stream-connections", "redis-socket-timeout", "key-failures-per-minute",
    "max-streams", "max-streams-per-session", "max-streams-per-address", "drain-seconds", "log-format",
    "log-level"}
HUB_FLAGS_BEFORE = {
    "heartbeat-seconds", "failures-per-minute", "hub-timeout", "max-streams", "max-streams-per-session",
    "max-streams-per-address", "identity-cache-seconds", "trusted-proxies", "redis-wait-replicas", "log-format"}


def trait_of(app, flag: str):
    """The trait a program's ``--flag`` sets (an alias, or a Bool flag)."""
    if flag in app.aliases:
        section, name = app.aliases[flag].split(".")
    else:
        ((section, values),) = app.flags[flag][0].items()
        (name,) = values
    owner = next(cls for cls in app.options_class.mro() if cls.__name__ == section)
    return owner.class_traits()[name]


def own_options(cls) -> dict:
    """The options Code Stream defines on ``cls`` (not Jupyter Server's own)."""
    return {name: trait for name, trait in cls.class_traits(config=True).items()
            if trait.this_class.__module__.startswith("jupyter_ext")}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_option_says_what_it_does_and_its_default(program):
    options = own_options(PROGRAMS[program])
    assert len(options) >= 15
    for name, trait in options.items():
        assert len(trait.help) > 20, f"{program}: {name} has no help"
        assert "Default" in trait.help, f"{program}: {name}'s help does not state its default"


# gc.freeze() only in our own processes: the Jupyter server is the user's (issue 21, item 5)
DEFAULT_PER_PROGRAM = {"freeze_startup_objects": {"extension": False, "relay": True, "hub service": True}}


def test_the_shared_options_are_one_trait_with_one_default_in_all_three_programs():
    shared = [RedisOptions, StreamLimits, KeyLimits]
    for options in shared:
        for name, trait in options.class_traits(config=True).items():
            for program, cls in PROGRAMS.items():
                assert cls.class_traits()[name] is trait, f"{program} redefines {name}"
            defaults = {program: getattr(cls(), name) for program, cls in PROGRAMS.items()}
            if name in DEFAULT_PER_PROGRAM:
                assert defaults == DEFAULT_PER_PROGRAM[name], (name, defaults)
                continue
            assert len(set(map(repr, defaults.values()))) == 1, (name, defaults)
    assert CodeStreamApp.class_traits()["max_source_bytes"] is HubServiceConfig.class_traits()["max_source_bytes"]
    for name in ListenOptions.class_traits(config=True):
        assert RelayConfig.class_traits()[name] is HubServiceConfig.class_traits()[name]
    # the one program-specific default: the hub service logs text beside JupyterHub's own log
    assert (RelayConfig().log_format, HubServiceConfig().log_format) == ("json", "text")


@pytest.mark.parametrize("app_class, before", [(RelayApp, RELAY_FLAGS_BEFORE), (HubServiceApp, HUB_FLAGS_BEFORE)])
def test_the_command_lines_are_generated_from_the_shared_traits(app_class, before):
    app = app_class()
    flags = set(app.aliases) | set(app.flags)
    assert before <= flags, f"flags lost: {before - flags}"
    shared = (RedisOptions, StreamLimits, KeyLimits, CellSizeLimits, ListenOptions, LogOptions)
    for flag in flags:
        trait = trait_of(app, flag)
        assert trait is app.options_class.class_traits()[trait.name]
        assert trait.help, flag
        if trait.this_class in shared:  # the very trait object the extension (or the other program) has
            users = [cls for cls in PROGRAMS.values() if issubclass(cls, trait.this_class)]
            assert all(cls.class_traits()[trait.name] is trait for cls in users) and len(users) >= 2, flag
    assert trait_of(app, "max-streams") is CodeStreamApp.class_traits()["max_streams"]


def test_help_lists_every_flag_with_its_help_and_this_programs_default(capsys):
    for app_class in (RelayApp, HubServiceApp):
        with pytest.raises(SystemExit) as exited:
            app_class().parse_command_line(["--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        app = app_class()
        for flag in [*app.aliases, *app.flags]:
            assert f"--{flag}" in out
            first_words = " ".join(trait_of(app, flag).help.split()[:4])
            assert first_words in " ".join(out.split())
    assert "Default: 'text'" not in out  # the hub's log_format help states it in words (and why)
    assert "codestream hub-service: text" in " ".join(out.split())


def test_the_extension_keeps_its_trait_names_and_takes_the_shared_sections():
    app = CodeStreamApp(config=Config({"CodeStreamApp": {"redis_url": "redis://r:6379/1", "max_streams": 7,
                                                         "key_failures_per_minute": 5}}))
    assert (app.redis_url, app.max_streams, app.key_failures_per_minute) == ("redis://r:6379/1", 7, 5)
    shared = CodeStreamApp(config=Config({"StreamLimits": {"max_streams_per_address": 3},
                                          "CellSizeLimits": {"max_source_bytes": 1000}}))
    assert (shared.max_streams_per_address, shared.cell_limits().max_source_bytes) == (3, 1000)
    assert CodeStreamApp(config=Config({"CodeStreamApp": {"heartbeat_seconds": 60}})).heartbeat_seconds == 15.0


def test_the_relay_command_line_sets_the_shared_traits():
    config = relay_parse_args(["--redis", "redis://r:6379/0", "--max-streams-per-address", "9", "--xheaders",
                               "--log-level", "debug", "--StreamLimits.max_streams=11",
                               "--RelayConfig.key_failure_penalty_seconds=0.5"], environ={})
    assert (config.max_streams_per_address, config.max_streams, config.xheaders) == (9, 11, True)
    assert config.log_level == "DEBUG" and config.failure_limiter().penalty_seconds == 0.5
    assert config.stream_caps(None).max_streams_per_address == 9


@pytest.mark.parametrize("argv", [["--max-streams", "0"], ["--heartbeat-seconds", "-1"], ["--log-format", "xml"],
                                  ["--port", "x"], ["--no-such-flag", "1"], ["stray"]])
def test_the_relay_refuses_a_bad_command_line_like_argparse_did(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        relay_parse_args(["--redis", "redis://:s3cret-pass@r:6379/0", *argv], environ={})
    assert exited.value.code == 2
    assert "s3cret-pass" not in "".join(capsys.readouterr())


def test_the_hub_service_reads_its_environment_and_the_command_line_wins():
    env = {**HUB_ENV, "CODESTREAM_TRUSTED_PROXIES": "10.0.0.7", "CODESTREAM_SERVICE_BIND": "0.0.0.0:10102",
           "CODESTREAM_TEACH_SCOPE": "custom:codestream:teach-x", "CODESTREAM_PUBLIC_HUB_URL": "https://h.example/hub/",
           "CODESTREAM_SERVICE_DATA_DIR": "/srv/cs", "JUPYTERHUB_BASE_URL": "/jhub",
           "CODESTREAM_REDIS_URL": "redis://:pw@r:6379/0"}
    config = hub_parse_args([], environ=env)
    assert (config.address, config.port, config.base_url) == ("0.0.0.0", 10102, "/services/codestream/")
    assert [str(n) for n in config.trusted_networks] == ["10.0.0.7/32"]
    assert (config.teach_scope, config.public_hub_url, config.data_dir, config.hub_base_url) == (
        "custom:codestream:teach-x", "https://h.example/hub/", "/srv/cs", "/jhub/")
    assert config.redis_url == "redis://:pw@r:6379/0" and not config.embedded and config.xheaders is False
    assert config.log_format == "text"
    flagged = hub_parse_args(["--trusted-proxies", "127.0.0.1/32", "--failures-per-minute", "3",
                              "--HubServiceConfig.port=10103"], environ=env)
    assert [str(n) for n in flagged.trusted_networks] == ["127.0.0.1/32"] and flagged.port == 10103
    assert flagged.failure_limiter().max_failures == 3
    assert hub_parse_args([], environ=HUB_ENV).embedded


def test_the_hub_service_needs_its_token_and_prints_no_secret(capsys):
    env = {**HUB_ENV, "CODESTREAM_REDIS_URL": "redis://:pw-not-printed@r:6379/0"}
    with pytest.raises(SystemExit) as exited:
        hub_parse_args([], environ={k: v for k, v in env.items() if k != "JUPYTERHUB_API_TOKEN"})
    assert exited.value.code == 2
    for argv in (["--trusted-proxies", "not-an-address"], ["--help-all"]):
        with pytest.raises(SystemExit):
            hub_parse_args(argv, environ=env)
    printed = "".join(capsys.readouterr())
    assert "not-an-address" in printed  # it did print the error
    assert "pw-not-printed" not in printed and "hub-token-not-printed" not in printed


def test_the_readmes_command_lists_every_extension_option_with_its_default():
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    command = re.search(r'`python -c "(from jupyter_ext\.app import CodeStreamApp;[^"]+)"`', readme).group(1)
    shown = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, timeout=60).stdout
    for name in ("max_streams_per_address", "freeze_startup_objects", "publish_on_save", "redis_url"):
        block = re.search(rf"--CodeStreamApp\.{name}=.*?(?=\n--|\Z)", shown, re.S)
        assert block and "Default:" in block.group(0), name
