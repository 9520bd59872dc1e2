"""Benchmark-only stand-in that makes ``import rfc3987_syntax`` fail, on student servers only.

jsonschema (through jupyter_events) imports rfc3987-syntax for its optional "iri" format check;
that import compiles a lark grammar, ~4 s of CPU per Jupyter server start on this machine. The
relay figure starts 20+ student servers, so the suite would spend minutes on it. jsonschema
skips the check when the import fails (``contextlib.suppress(ImportError)``); nothing on Code
Stream's path uses it. The teacher server is started without this, as a real one is.
"""

raise ImportError("rfc3987_syntax is left out of benchmark student servers (see bench/shims)")
