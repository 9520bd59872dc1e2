"""The command line of a standalone program (``codestream relay``, ``codestream hub-service``),
generated from the traits of its config class, as jupyter-server-proxy's standalone server
builds its flags from ``ServerProcess``'s traits.

Each ``--flag`` is an alias to the trait's *owner* section (``--max-streams`` sets
``StreamLimits.max_streams``), a ``Bool`` trait a flag that turns it on; the long forms
(``--StreamLimits.max_streams=5``, ``--RelayConfig.port=0``) work for every option. Values
from the environment go into the same sections first, so the command line wins over them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from traitlets import Bool, TraitError, TraitType
from traitlets.config import Application, Config, Configurable
from traitlets.config.loader import KVArgParseConfigLoader


def command_line(options: Mapping[str, TraitType]) -> tuple[dict, dict]:
    """``(aliases, flags)`` for ``{"flag-name": SomeOptions.some_trait, ...}``."""
    aliases: dict[str, str] = {}
    flags: dict[str, tuple] = {}
    for name, trait in options.items():
        section = trait.this_class.__name__
        if isinstance(trait, Bool):
            flags[name] = ({section: {trait.name: True}}, trait.help)
        else:
            aliases[name] = f"{section}.{trait.name}"
    return aliases, flags


def flag_names(*traits: TraitType, **renamed: TraitType) -> dict[str, TraitType]:
    """``--port`` for ``ListenOptions.port`` (the trait's name, dashed), and ``renamed`` ones
    (``redis=RedisOptions.redis_url``) under the name they always had."""
    names = {trait.name.replace("_", "-"): trait for trait in traits}
    names.update({name.replace("_", "-"): trait for name, trait in renamed.items()})
    return names


def section_config(values: Mapping[TraitType, object]) -> Config:
    """``{Options.trait: value}`` as config in each trait's owner section (what an alias sets)."""
    config = Config()
    for trait, value in values.items():
        config[trait.this_class.__name__][trait.name] = value
    return config


class _StrictLoader(KVArgParseConfigLoader):
    """A mistyped ``--flag`` is an error (exit 2), as it was with argparse, not a warning."""

    def _handle_unrecognized_alias(self, arg: str) -> None:
        self.parser.error(f"unrecognized argument: --{arg}")


class ProgramApp(Application):
    """Parses a program's command line into its config class (``options_class``)."""

    options_class: type[Configurable] = Configurable
    options: dict[str, TraitType] = {}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.aliases, self.flags = command_line(self.options)
        self.classes = [self.options_class]

    def _create_loader(self, argv, aliases, flags, classes):
        return _StrictLoader(argv, aliases, flags, classes=classes, log=self.log, prog=self.name)

    def fail(self, message: str) -> None:
        """Stop as argparse does on a bad command line: usage error, exit status 2."""
        print(f"{self.name}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    def load(self, argv: list[str] | None, environment: Config | None = None) -> Configurable:
        """The program's options: defaults < ``environment`` < the command line."""
        if environment:
            self.update_config(environment)
        self.parse_command_line([] if argv is None else list(argv))
        if self.extra_args:
            self.fail(f"unexpected arguments: {' '.join(self.extra_args)}")
        try:
            return self.options_class(config=self.config)
        except TraitError as exc:
            self.fail(str(exc))

    def emit_alias_help(self):
        """Each option with this program's own default (a config class may change a default)."""
        defaults = self.options_class()
        for alias, longname in self.aliases.items():
            trait = self.options_class.class_traits(config=True)[longname.split(".")[1]]
            lines = self.options_class.class_get_trait_help(trait, inst=defaults).splitlines()
            lines[0] = lines[0].replace(f"--{self.options_class.__name__}.{trait.name}", f"--{alias}")
            if "Default:" in trait.help:  # the help says it (and why), so once is enough
                lines.pop()
            else:
                lines[-1] = lines[-1].replace("Current:", "Default:", 1)
            yield from lines
            yield f"    Equivalent to: [--{longname}]"
