"""Backup freshness (``enclii-iac backups verify``): the newest object under each prefix is recent enough.

report = backups_verify(conn, "enclii-backups", {"etcd/": parse_interval("12h")})
report.ok   # False when a prefix is empty or its newest object is older than twice its schedule
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from enclii_iac.errors import ToolError
from enclii_iac.r2.client import Connection, translate_errors

GRACE_FACTOR: Final = 2.0
"""A prefix is stale when its newest object is older than this many schedule intervals."""

_INTERVAL = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h|d|w)$")
_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_interval(value: str) -> float:
    """``"30m"`` → 1800.0, ``"12h"`` → 43200.0, ``"1d"`` → 86400.0 (seconds)."""
    m = _INTERVAL.fullmatch(value.strip())
    if not m or float(m.group(1)) <= 0:
        raise ToolError(f"{value!r} is not an interval: use a number and s, m, h, d or w (e.g. 12h, 1d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def format_age(seconds: float) -> str:
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


@dataclass(frozen=True)
class PrefixStatus:
    """The newest object under one prefix and whether it is fresh enough."""

    prefix: str
    interval_seconds: float
    objects: int
    pages: int
    newest_key: str | None
    newest_at: datetime | None
    age_seconds: float | None
    empty: int = 0
    """Zero-byte objects under the prefix (a failed upload leaves one): never counted as a backup."""

    @property
    def max_age_seconds(self) -> float:
        return self.interval_seconds * GRACE_FACTOR

    @property
    def ok(self) -> bool:
        return self.age_seconds is not None and self.age_seconds <= self.max_age_seconds

    @property
    def message(self) -> str:
        limit = format_age(self.max_age_seconds)
        where = self.prefix or "(bucket)"
        empties = f"; {self.empty} empty object(s) ignored" if self.empty else ""
        if self.newest_key is None or self.age_seconds is None:
            return f"{where}: no objects (expected one at least every {format_age(self.interval_seconds)}{empties})"
        state = "ok" if self.ok else "STALE"
        return (
            f"{where}: {state}: newest {self.newest_key} is {format_age(self.age_seconds)} old "
            f"(limit {limit}, {self.objects} objects{empties})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "ok": self.ok,
            "objects": self.objects,
            "pages": self.pages,
            "newestKey": self.newest_key,
            "newestAt": self.newest_at.isoformat() if self.newest_at else None,
            "ageSeconds": round(self.age_seconds, 3) if self.age_seconds is not None else None,
            "intervalSeconds": self.interval_seconds,
            "maxAgeSeconds": self.max_age_seconds,
            "emptyObjects": self.empty,
        }


@dataclass(frozen=True)
class VerifyReport:
    """Freshness of every checked prefix of one bucket."""

    bucket: str
    endpoint: str
    checked_at: datetime
    prefixes: tuple[PrefixStatus, ...]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.prefixes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "checkedAt": self.checked_at.isoformat(),
            "prefixes": [p.as_dict() for p in self.prefixes],
        }

    def text(self) -> str:
        lines = [p.message for p in self.prefixes]
        bad = sum(1 for p in self.prefixes if not p.ok)
        lines.append(f"{self.bucket}: {'all backups fresh' if not bad else f'{bad} prefix(es) stale or empty'}")
        return "\n".join(lines)


def newest_under(
    conn: Connection, bucket: str, prefix: str, *, page_size: int = 1000, client: Any | None = None,
    empties: list[str] | None = None,
) -> tuple[int, int, str | None, datetime | None]:
    """``(objects, pages, newest_key, newest_time)`` under ``prefix``, paginating ListObjectsV2.

    Directory markers (keys ending in ``/``) and zero-byte objects (appended to ``empties``) are not backups.
    """
    from enclii_iac.r2.state import check_bucket_name

    if not 1 <= page_size <= 1000:
        raise ToolError(f"page size must be between 1 and 1000 (got {page_size})")
    check_bucket_name(bucket)
    if len(prefix) > 1024 or any(ord(c) < 32 for c in prefix):
        raise ToolError(f"prefix {prefix[:40]!r} is not an object key prefix")
    s3 = client or conn.client()
    count = pages = 0
    newest_key: str | None = None
    newest_at: datetime | None = None
    with translate_errors(conn, bucket=bucket, action=f"listing {bucket}/{prefix}"):
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
            pages += 1
            headers = (page.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
            if "html" in str(headers.get("content-type", "")).lower():
                raise ToolError(
                    f"{conn.endpoint} answered listing {bucket}/{prefix} with a web page, not an S3 response (a login "
                    "page, a proxy or the wrong service?); check --endpoint"
                )
            for obj in page.get("Contents") or []:
                key = str(obj["Key"])
                if key.endswith("/"):
                    continue
                if int(obj.get("Size") or 0) == 0:
                    if empties is not None:
                        empties.append(key)
                    continue
                count += 1
                modified: datetime = obj["LastModified"]
                if newest_at is None or (modified, key) > (newest_at, newest_key or ""):
                    newest_key, newest_at = key, modified
    return count, pages, newest_key, newest_at


def backups_verify(
    conn: Connection,
    bucket: str,
    schedules: Mapping[str, float],
    *,
    now: datetime | None = None,
    page_size: int = 1000,
    client: Any | None = None,
) -> VerifyReport:
    """Check that each prefix's newest object is younger than twice its schedule (seconds)."""
    if not schedules:
        raise ToolError("nothing to verify: give at least one --prefix PREFIX=INTERVAL (e.g. etcd/=12h)")
    from enclii_iac.r2.state import check_bucket_name

    check_bucket_name(bucket)
    s3 = client or conn.client()
    checked = now or datetime.now(UTC)
    statuses = []
    for prefix, interval in sorted(schedules.items()):
        if interval <= 0:
            raise ToolError(f"{prefix}: the interval must be positive (got {interval})")
        empty: list[str] = []
        count, pages, key, at = newest_under(conn, bucket, prefix, page_size=page_size, client=s3, empties=empty)
        age = (checked - at).total_seconds() if at is not None else None
        statuses.append(PrefixStatus(prefix, float(interval), count, pages, key, at, age, len(empty)))
    return VerifyReport(bucket=bucket, endpoint=conn.endpoint, checked_at=checked, prefixes=tuple(statuses))
