"""Names: type tokens, child resource names and Kubernetes object names.

Everything here is part of the external contract (URNs and object names derive from it), so it is
frozen and golden-tested: changing an output of these functions renames live resources.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

PACKAGE: Final = "enclii"
"""Pulumi package name of every component type token."""


def type_token(cls_name: str) -> str:
    """The component type token ``enclii:index:<Class>`` (cross-language hosting forces ``index``)."""
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", cls_name):
        raise ValueError(f"type token class name must be PascalCase, got {cls_name!r}")
    return f"{PACKAGE}:index:{cls_name}"


TYPE_TENANT_PROJECT: Final = type_token("TenantProject")
TYPE_TENANT_ENVIRONMENT: Final = type_token("TenantEnvironment")
TYPE_TENANT_SERVICE: Final = type_token("TenantService")
TYPE_PLATFORM: Final = type_token("EncliiPlatform")

DNS_LABEL_MAX: Final = 63
RFC1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""An RFC 1123 label: what Kubernetes accepts for namespaces, services and most object names."""

_HASH_LEN: Final = 8
_INVALID = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LEN]


def dns_label(*parts: str, max_len: int = DNS_LABEL_MAX) -> str:
    """Join ``parts`` into one RFC 1123 label of at most ``max_len`` characters.

    When the plain join (``"-".join(parts)``) is already a valid label that fits, it is returned
    unchanged, so names stay readable. Otherwise the join is lower-cased, every run of characters
    outside ``[a-z0-9-]`` becomes ``-``, it is cut to fit, and ``-<8 hex of sha256(join)>`` is
    appended, so two different inputs never collide by sanitising to the same text.
    """
    if not parts:
        raise ValueError("dns_label needs at least one part")
    if max_len < _HASH_LEN + 2 or max_len > DNS_LABEL_MAX:
        raise ValueError(f"max_len must be between {_HASH_LEN + 2} and {DNS_LABEL_MAX}, got {max_len}")
    joined = "-".join(parts)
    if len(joined) <= max_len and RFC1123_LABEL.fullmatch(joined):
        return joined
    cleaned = _DASHES.sub("-", _INVALID.sub("-", joined.lower())).strip("-")
    room = max_len - _HASH_LEN - 1
    head = cleaned[:room].rstrip("-")
    digest = _digest(joined)
    return f"{head}-{digest}" if head else f"x-{digest}"[:max_len]


def child_name(parent: str, *keys: str) -> str:
    """Pulumi logical name of a child: ``parent`` or ``parent-key1-key2`` (stable keys, never indices)."""
    for key in keys:
        if not key:
            raise ValueError(f"child of {parent!r}: keys must be non-empty")
    return "-".join((parent, *keys))


def is_dns_label(value: str) -> bool:
    """True when ``value`` is an RFC 1123 label Kubernetes accepts as a name."""
    return bool(RFC1123_LABEL.fullmatch(value))


def namespace_name(project: str, environment: str) -> str:
    """Namespace of one tenant environment: ``<project>-<environment>``."""
    return dns_label(project, environment)


def label_key(name: str) -> str:
    """A label or annotation key under the enclii.dev prefix."""
    return f"enclii.dev/{name}"
