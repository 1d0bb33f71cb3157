"""The small JSON configuration that names an integration's gateway, checked field by field::

    {"kind": "simulated", "store": "data/bank.sqlite"}
    {"kind": "http", "base_url": "http://127.0.0.1:8765", "timeout_s": 5}

These checks build nothing, open no file and load no HTTP client, so a command can refuse
a bad configuration inside its transaction at no cost; each registry runs them before it
builds a gateway, and says in its own words what it configures.  Every refusal names the
field and the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..clock import Seconds

# kind: (required fields, optional fields), besides "kind" itself.
Fields = Mapping[str, tuple[frozenset[str], frozenset[str]]]

# The common case: the built-in simulator on its store, or the HTTP contract.
SIMULATED_OR_HTTP: Fields = {
    "simulated": (frozenset({"store"}), frozenset()),
    "http": (frozenset({"base_url"}), frozenset({"timeout_s"})),
}
DEFAULT_TIMEOUT_S = 5.0


def check_simulated_or_http(config: Any, *, what: str, error: type[ValueError]) -> str:  # noqa: ANN401
    """Check a ``SIMULATED_OR_HTTP`` configuration whole (its kind is returned); an
    absent ``timeout_s`` is ``DEFAULT_TIMEOUT_S``."""
    kind = check_fields(config, SIMULATED_OR_HTTP, what=what, error=error)
    if kind == "simulated":
        check_store(config["store"], error)
    else:
        check_base_url(config["base_url"], error)
        check_timeout_s(config.get("timeout_s", DEFAULT_TIMEOUT_S), error)
    return kind


def check_fields(config: Any, fields: Fields, *, what: str, error: type[ValueError]) -> str:  # noqa: ANN401
    """The configuration's kind, once it is a mapping of a known kind with the fields that
    kind takes and no other; ``what`` names the thing configured ("rate source")."""
    if not isinstance(config, Mapping):
        article = "an" if what[:1] in "aeiou" else "a"
        raise error(f"{article} {what} configuration is a mapping, got {type(config).__name__}")
    kind = config.get("kind")
    if kind not in fields:
        raise error(f"kind must be one of {', '.join(sorted(fields))}, got {kind!r}")
    required, optional = fields[kind]
    missing = sorted(required - set(config))
    if missing:
        raise error(f"a {kind} {what} needs {', '.join(missing)}")
    extra = sorted(set(config) - required - optional - {"kind"})
    if extra:
        raise error(f"a {kind} {what} has no setting {', '.join(extra)}")
    return kind


def check_store(store: Any, error: type[ValueError]) -> str:  # noqa: ANN401
    """A simulator's store: a non-empty file path."""
    if not isinstance(store, str) or not store:
        raise error(f"store must be a file path, got {store!r}")
    return store


def check_base_url(base_url: Any, error: type[ValueError]) -> str:  # noqa: ANN401
    """An HTTP gateway's base URL: http or https."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise error(f"base_url must be an http(s) URL, got {base_url!r}")
    return base_url


def check_timeout_s(timeout_s: Any, error: type[ValueError]) -> Seconds:  # noqa: ANN401
    """An HTTP gateway's timeout: a positive number of seconds (a bool is not one).  A
    duration handed to httpx, not money: a float is right for it."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise error(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    return float(timeout_s)  # seconds, not money
