"""The strict base model and the validated scalar types shared by every spec.

No Pulumi import here: specs are plain, frozen, validated data.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from enclii_iac.naming import DNS_LABEL_MAX, RFC1123_LABEL


class StrictModel(BaseModel):
    """Frozen, unknown fields rejected; YAML uses camelCase, Python uses snake_case (both accepted)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        str_strip_whitespace=False,
        use_enum_values=False,
    )

    def to_data(self) -> dict[str, Any]:
        """The spec as plain data with YAML (camelCase) keys, defaults left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _dns_label(value: str) -> str:
    if not RFC1123_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS label: use 1-{DNS_LABEL_MAX} lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
"""An RFC 1123 label (namespaces, services, projects, environments)."""


def _short_label(value: str) -> str:
    _dns_label(value)
    if len(value) > 30:
        raise ValueError(f"{value!r} is too long: at most 30 characters (it is joined into longer names)")
    return value


ShortLabel = Annotated[str, AfterValidator(_short_label)]
"""A DNS label of at most 30 characters, for names that are joined into other names."""

_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a lower-case DNS hostname (e.g. api.example.com; '*.' allowed only as the first label)"
        )
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]

_IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an OCI image reference (e.g. ghcr.io/acme/api:1.2.3 or ghcr.io/acme/api@sha256:<64 hex>)"
        )
    return value


Image = Annotated[str, AfterValidator(_image)]


def image_digest(image: str) -> str | None:
    """The ``sha256:...`` digest of an image reference, if pinned."""
    m = _IMAGE.fullmatch(image)
    return m.group("digest") if m else None


def image_tag(image: str) -> str | None:
    """The tag of an image reference, if any."""
    m = _IMAGE.fullmatch(image)
    return m.group("tag") if m else None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an environment variable name (letters, digits, '_'; not starting with a digit)"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _env_value(value: str) -> str:
    if "\x00" in value:
        raise ValueError("environment values cannot contain NUL bytes")
    return value


EnvValue = Annotated[str, AfterValidator(_env_value)]

_CPU = re.compile(r"^(?:[0-9]+m|[0-9]+(?:\.[0-9]{1,3})?)$")
_MEM = re.compile(r"^[0-9]+(?:Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEM_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def _cpu(value: str) -> str:
    if not _CPU.fullmatch(value) or cpu_millis(value) <= 0:
        raise ValueError(f"{value!r} is not a CPU quantity (e.g. 250m, 0.5, 2)")
    return value


def _memory(value: str) -> str:
    if not _MEM.fullmatch(value) or memory_bytes(value) <= 0:
        raise ValueError(f"{value!r} is not a memory quantity (e.g. 256Mi, 1Gi)")
    return value


CpuQuantity = Annotated[str, AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, AfterValidator(_memory)]


def cpu_millis(value: str) -> int:
    """CPU quantity in millicores: ``"500m"`` → 500, ``"1.5"`` → 1500."""
    if value.endswith("m"):
        return int(value[:-1])
    return round(float(value) * 1000)


def memory_bytes(value: str) -> int:
    """Memory quantity in bytes: ``"256Mi"`` → 268435456."""
    m = re.fullmatch(r"([0-9]+)([A-Za-z]*)", value)
    if not m or m.group(2) not in _MEM_UNITS:
        raise ValueError(f"{value!r} is not a memory quantity")
    return int(m.group(1)) * _MEM_UNITS[m.group(2)]


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: str) -> float:
    """``"300ms"`` → 0.3, ``"5s"`` → 5.0, ``"2m"`` → 120.0."""
    m = _DURATION.fullmatch(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration (e.g. 300ms, 5s, 2m, 1h)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def _duration(value: str) -> str:
    duration_seconds(value)
    return value


Duration = Annotated[str, AfterValidator(_duration)]

_PATH = re.compile(r"^/(?:[A-Za-z0-9._~-]+/?)*$")


def _url_path(value: str) -> str:
    if not _PATH.fullmatch(value) or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError(f"{value!r} is not an absolute URL path (e.g. / or /api/v1; letters, digits, . _ ~ -)")
    return value


UrlPath = Annotated[str, AfterValidator(_url_path)]


def _fs_path(value: str) -> str:
    if not _PATH.fullmatch(value) or ".." in value.split("/") or value == "/":
        raise ValueError(f"{value!r} is not an absolute path below / (letters, digits, . _ ~ -; no '..')")
    return value


MountPath = Annotated[str, AfterValidator(_fs_path)]


_CRON_FIELD = r"(\*|[0-9]{1,2}(-[0-9]{1,2})?(,[0-9]{1,2}(-[0-9]{1,2})?)*)(/[0-9]{1,2})?"
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$|^@(hourly|daily|weekly|monthly|yearly)$")


def _cron(value: str) -> str:
    if not _CRON.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a 5-field cron schedule of digits, '*', ',', '-', '/' (e.g. '*/5 * * * *' or @daily)"
        )
    return value


CronSchedule = Annotated[str, AfterValidator(_cron)]
"""A 5-field cron schedule (UTC) or a macro such as @daily; Kubernetes CronJobs and k3s accept both."""
