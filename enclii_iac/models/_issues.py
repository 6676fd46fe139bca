"""Cross-field checks that report every problem, each at its own field path.

A model validator that finds several problems raises them together, each with the location of the field
it is about (``("tenants", "shop", "services", "api", "routes", 0, "host")``), so the loader's SpecError
names ``tenants.shop.services.api.routes[0].host`` as the path instead of the model as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]


def field_errors(model: str, issues: Sequence[tuple[Loc, str]]) -> ValidationError:
    """A ValidationError of ``model`` with one error per ``(location, message)``."""
    return ValidationError.from_exception_data(
        model,
        [
            # the message goes in through the context: a template would read the braces of "{min: 1}" as fields
            InitErrorDetails(type=PydanticCustomError("enclii_spec", "{message}", {"message": message}), loc=loc,
                             input=None)
            for loc, message in issues
        ],
    )


def raise_if(model: str, issues: Sequence[tuple[Loc, str]]) -> None:
    """Raise :func:`field_errors` when there is any issue."""
    if issues:
        raise field_errors(model, issues)


_PART = re.compile(r"([^.\[\]]+)|\[([0-9]+)\]")


def loc_of(path: str) -> Loc:
    """The location of a dotted field path: ``tenants.shop.routes[0].host`` → ``("tenants", "shop", "routes", 0,
    "host")`` (the inverse of the loader's path formatting)."""
    return tuple(int(index) if index else name for name, index in _PART.findall(path))
