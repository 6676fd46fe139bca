"""The strict base model and the validated scalar types shared by every spec.

No Pulumi import here: specs are plain, frozen, validated data.
"""

from __future__ import annotations

import os
import re
import sys
from types import FrameType
from typing import Annotated, Any

import pydantic
import pydantic_core
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic._internal._model_construction import ModelMetaclass
from pydantic.alias_generators import to_camel

from enclii_iac.naming import DNS_LABEL_MAX, RFC1123_LABEL


class _SpecModelMeta(ModelMetaclass):
    """Building a spec in Python (``ServiceSpec(...)``) raises :class:`enclii_iac.SpecError` naming the caller's
    file and line, the model and the field path (``tenants.py:12 Replicas: min must be <= max``), as YAML
    errors name the document and the field. Only direct calls go through here: pydantic validates nested
    data and ``model_validate`` without calling the class, so the YAML loader keeps its own paths."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            if _is_internal(sys._getframe(1).f_code.co_filename):
                raise  # enclii_iac's own code (the YAML loader) reports it with the document's field path
            raise python_spec_error(exc, cls.__name__) from None


class StrictModel(BaseModel, metaclass=_SpecModelMeta):
    """Frozen, unknown fields rejected; YAML uses camelCase, Python uses snake_case (both accepted).

    Invalid values given in Python raise :class:`enclii_iac.SpecError` (a ``ValueError``) with the caller's
    file and line and the field path."""

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


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PYDANTIC_DIRS = tuple(
    os.path.dirname(os.path.abspath(m.__file__ or "")) for m in (pydantic, pydantic_core) if m.__file__
)


def _is_internal(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith((_PACKAGE_DIR + os.sep, *[d + os.sep for d in _PYDANTIC_DIRS]))


def caller_location() -> str:
    """``file:line`` of the innermost frame outside enclii_iac and pydantic (the user's call), path relative
    to the working directory when below it; ``""`` when there is none."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if not _is_internal(frame.f_code.co_filename):
            path = os.path.abspath(frame.f_code.co_filename)
            rel = os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path
            return f"{rel}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def python_spec_error(exc: ValidationError, model: str) -> Exception:
    """A SpecError for a model built in Python: document ``<file>:<line> <Model>``, snake_case field paths."""
    from pydantic.alias_generators import to_snake

    from enclii_iac.models.loader import issues_from_validation

    where = caller_location()
    document = f"{where} {model}" if where else model
    issues = issues_from_validation(exc, document)
    from enclii_iac.errors import SpecError, SpecIssue

    return SpecError(
        [
            SpecIssue(i.document, ".".join(to_snake(p) if p[:1].isalpha() else p for p in i.path.split(".")), i.message)
            for i in issues
        ]
    )


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


ENV_VALUE_MAX_BYTES = 64 * 1024
"""One environment value: Linux refuses a single ``NAME=value`` string above 128 KiB at exec."""


def _env_value(value: str) -> str:
    if "\x00" in value:
        raise ValueError("environment values cannot contain NUL bytes")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("environment values must be valid Unicode (no lone surrogates)") from None
    if size > ENV_VALUE_MAX_BYTES:
        raise ValueError(
            f"an environment value of {size} bytes is above {ENV_VALUE_MAX_BYTES // 1024} KiB; mount large "
            "configuration from a volume or bake it into the image"
        )
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


CPU_MAX_MILLIS = 1024 * 1000
"""No CPU quantity above 1024 cores: beyond any machine enclii runs on (node-level fit is checked per platform)."""
MEMORY_MAX_BYTES = 2**50
"""No memory or storage quantity above 1 PiB (Kubernetes quantities beyond int64 are refused by the API)."""


def _cpu(value: str) -> str:
    if len(value) > 32 or not _CPU.fullmatch(value) or cpu_millis(value) <= 0:
        raise ValueError(f"{value[:40]!r} is not a CPU quantity (e.g. 250m, 0.5, 2)")
    if cpu_millis(value) > CPU_MAX_MILLIS:
        raise ValueError(f"{value!r} is more CPU than any node has (at most {CPU_MAX_MILLIS // 1000} cores)")
    return value


def _memory(value: str) -> str:
    if len(value) > 32 or not _MEM.fullmatch(value) or memory_bytes(value) <= 0:
        raise ValueError(f"{value[:40]!r} is not a memory quantity (e.g. 256Mi, 1Gi)")
    if memory_bytes(value) > MEMORY_MAX_BYTES:
        raise ValueError(f"{value!r} is more than any node or volume holds (at most 1Pi)")
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
