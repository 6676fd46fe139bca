"""The one way a value reaches a shell script: ``shlex.quote`` through a Jinja filter.

Templates under ``render/templates/*.sh.j2`` are rendered by :func:`render_script`. Its environment
has ``StrictUndefined`` and a ``finalize`` hook that refuses any ``{{ expression }}`` whose value did
not pass through the ``q`` (quote) or ``b64q`` (base64, then quote) filter, so an unquoted value
cannot reach a script even by mistake. Values that no quoting makes safe to pass on a command line
(newlines, NUL, other control characters except tab) are rejected with :class:`RenderError`; multi-line content
(files) travels base64-encoded.
"""

from __future__ import annotations

import base64
import re
import shlex
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, Undefined

from enclii_iac.errors import RenderError

_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Quoted(str):
    """A string already quoted for a POSIX shell (the only kind of value templates may emit)."""

    __slots__ = ()


def quote(value: object) -> Quoted:
    """``value`` as one shell word; RenderError if it holds a newline, NUL or other control character."""
    if isinstance(value, Undefined):
        raise RenderError(f"a template value is undefined: {value._undefined_message}")
    if isinstance(value, bool) or value is None:
        raise RenderError(f"refusing to render {value!r} into a shell script: pass a string or a number")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise RenderError(f"refusing to render a {type(value).__name__} into a shell script: pass a string")
    bad = _UNSAFE.search(text)
    if bad:
        raise RenderError(
            f"refusing to render {text[:40]!r} into a shell script: it contains the control character "
            f"{bad.group()!r} (newlines and NUL cannot be passed safely; send file content base64-encoded)"
        )
    return Quoted(shlex.quote(text))


def quote_base64(value: str | bytes) -> Quoted:
    """``value`` base64-encoded (one line, alphabet ``A-Za-z0-9+/=``) and quoted: for file content."""
    if isinstance(value, Undefined):
        raise RenderError(f"a template value is undefined: {value._undefined_message}")
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return quote(base64.b64encode(raw).decode("ascii"))


def _finalize(value: Any) -> Any:
    if isinstance(value, Quoted):
        return value
    raise RenderError(
        f"template emitted {str(value)[:40]!r} without the q filter: every value that reaches a shell "
        "script must be written {{ value | q }} (or {{ content | b64q }})"
    )


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("enclii_iac", "render/templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_finalize,
    )
    env.filters["q"] = quote
    env.filters["b64q"] = quote_base64
    return env


def render_script(template: str, **values: Any) -> str:
    """Render ``templates/<template>`` with ``values``; RenderError on a missing or unsafe value."""
    if not template.endswith(".sh.j2"):
        raise RenderError(f"{template!r}: only shell script templates (*.sh.j2) are rendered with Jinja2")
    try:
        return _environment().get_template(template).render(**values)
    except RenderError:
        raise
    except TemplateError as exc:
        raise RenderError(f"{template}: {exc}") from None


def command_line(*words: object) -> str:
    """A command line from words, each quoted: ``command_line("cat", path)``."""
    return " ".join(quote(w) for w in words)
