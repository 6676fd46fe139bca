"""One JSON Schema (draft 2020-12) for every Enclii document, for editors and CI (``enclii-iac schema``).

The schema validates whole documents (``apiVersion``, ``kind``, ``metadata``, ``spec``) and picks the
definition by ``kind``, so one ``# yaml-language-server: $schema=...`` line serves ``platform.yaml`` and
multi-document ``enclii.yaml`` files alike::

    # yaml-language-server: $schema=https://enclii.dev/schemas/v1/enclii.schema.json
    apiVersion: enclii.dev/v1
    kind: Service

It is generated from the same pydantic models ``enclii-iac validate`` uses, and the two agree:

- the schema never rejects a document ``validate`` accepts (an editor never flags a valid file);
- every per-field rule is in the schema as well: types (``validate`` coerces nothing: ``port: "8080"`` is an
  error in both), enums, required and unknown fields, numeric bounds, and the syntax of every validated string
  (DNS labels, hostnames, images, quantities, durations, paths, CIDRs, SSH keys, cron schedules; see
  ``STRING_FORMATS``).

What only ``validate`` checks is what JSON Schema cannot say: rules across fields (``replicas.min <= max``,
routes inside the zone, digests in production) and a few value checks listed in ``VALIDATE_ONLY``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema as cs

SCHEMA_URI: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID: Final = "https://enclii.dev/schemas/v1/enclii.schema.json"
API_VERSION: Final = "enclii.dev/v1"
KINDS: Final = ("Platform", "Project", "Service")

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


def _string_formats() -> dict[str, dict[str, Any]]:
    """``<module>.<function>`` of each string validator → the JSON Schema keywords that say the same."""
    from enclii_iac.models import _base, host
    from enclii_iac.naming import RFC1123_LABEL

    def js(pattern: str) -> str:  # Python's named groups are (?<name>...) in ECMAScript: drop the names
        import re

        return re.sub(r"\(\?P<[a-z_]+>", "(?:", pattern)

    b = "enclii_iac.models._base"
    h = "enclii_iac.models.host"
    return {
        f"{b}._dns_label": {"pattern": RFC1123_LABEL.pattern, "maxLength": 63},
        f"{b}._short_label": {"pattern": RFC1123_LABEL.pattern, "maxLength": 30},
        f"{b}._hostname": {"pattern": _base._HOSTNAME.pattern},
        f"{b}._image": {"pattern": js(_base._IMAGE.pattern)},
        f"{b}._env_name": {"pattern": _base._ENV_NAME.pattern},
        f"{b}._env_value": {"pattern": "^[^\\x00]*$"},
        f"{b}._cpu": {
            "pattern": r"^(?:[0-9]*[1-9][0-9]*m|[0-9]*[1-9][0-9]*(?:\.[0-9]{1,3})?|[0-9]+\.(?=[0-9]*[1-9])[0-9]{1,3})$",
            "maxLength": 32,
        },
        f"{b}._memory": {"pattern": r"^[0-9]*[1-9][0-9]*(?:Ki|Mi|Gi|Ti|k|M|G|T)?$", "maxLength": 32},
        f"{b}._duration": {"pattern": r"^[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)$"},
        f"{b}._url_path": {"pattern": r"^(?!.*/\.\.?(?:/|$))/(?:[A-Za-z0-9._~-]+/?)*$"},
        f"{b}._fs_path": {"pattern": r"^(?!/$)(?!.*/\.\.(?:/|$))/(?:[A-Za-z0-9._~-]+/?)*$"},
        f"{b}._cron": {"pattern": _base._CRON.pattern},
        "enclii_iac.models.cluster._k3s_version": {"pattern": r"^v1\.[0-9]{2}\.[0-9]{1,3}\+k3s[0-9]{1,2}$"},
        "enclii_iac.models.cluster._private_range": {},
        f"{h}._ip_address": {"pattern": r"^[0-9a-fA-F:.]{2,45}$"},
        f"{h}._cidr": {"pattern": r"^[0-9a-fA-F:.]{2,45}/[0-9]{1,3}$"},
        f"{h}._restricted_cidr": {"pattern": r"^[0-9a-fA-F:.]{2,45}/(?!0+$)[0-9]{1,3}$"},
        f"{h}._ssh_public_key": {"pattern": host._SSH_KEY.pattern},
        f"{h}._ssh_host_key": {"pattern": host._HOST_KEY.pattern},
        f"{h}._posix_user": {"pattern": host._POSIX_USER.pattern},
        f"{h}._admin_user": {"pattern": r"^(?!root$)[a-z_][a-z0-9_-]{0,31}$"},
        f"{h}._ports": {"pattern": r"^[0-9]{1,5}(?:-[0-9]{1,5})?$"},
        "enclii_iac.models.edge._relative_name": {
            "pattern": rf"^(?=.{{1,190}}$)(?:@|{_LABEL}(?:\.{_LABEL})*)$"
        },
        "enclii_iac.models.edge._bucket_name": {"pattern": r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"},
        "enclii_iac.models.edge._key_prefix": {"pattern": r"^([A-Za-z0-9!_.*'()-]+/)*$"},
        "enclii_iac.models.edge._origin": {
            "pattern": r"^(\*|https?://(\*\.)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(:[0-9]{1,5})?)$"
        },
        "enclii_iac.models.tenant._env_name": {
            "pattern": r"^(dev|stage|prod|preview-[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?)$"
        },
        "enclii_iac.models.service._percent": {
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?%?\s*$", "exclusiveMinimum": 0, "exclusiveMaximum": 100
        },
    }


VALIDATE_ONLY: Final = {
    "enclii_iac.models._base._cpu": "at most 1024 cores",
    "enclii_iac.models._base._memory": "at most 1Pi",
    "enclii_iac.models._base._env_value": "at most 64 KiB of UTF-8",
    "enclii_iac.models._base._duration": "",
    "enclii_iac.models.host._ip_address": "a real address, written in canonical form",
    "enclii_iac.models.host._cidr": "a real network, host bits zero, canonical form",
    "enclii_iac.models.host._restricted_cidr": "a real network, host bits zero, canonical form, not the internet",
    "enclii_iac.models.host._ports": "ports 1-65535, low <= high",
    "enclii_iac.models.cluster._private_range": "inside the private ranges",
    "enclii_iac.models.service._percent": "a percentage written as a string is between 0 and 100",
}
"""Value checks of string validators that the schema states only as syntax (by ``<module>.<function>``)."""

STRING_FORMATS: dict[str, dict[str, Any]] = {}
"""Filled on first use by :func:`document_schema` (importing the models)."""


def _key(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


class _EncliiJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, plus the syntax of enclii's validated string types (``STRING_FORMATS``)."""

    def function_after_schema(self, schema: cs.AfterValidatorFunctionSchema) -> JsonSchemaValue:
        out = super().function_after_schema(schema)
        fn = schema["function"]["function"]
        key = _key(fn)
        if "." in fn.__qualname__ or schema["schema"]["type"] in ("model", "model-fields"):
            return out  # a model's or field's own validator: rules across values, checked by validate only
        if key not in STRING_FORMATS:
            raise ValueError(
                f"{key}: a validated type without a JSON Schema counterpart; add it to enclii_iac.schema."
                "_string_formats (with its pattern) so editors and `enclii-iac validate` keep agreeing"
            )
        extra = STRING_FORMATS[key]
        if extra and "$ref" not in out:
            out = {**out, **extra}
        return out


    def dict_schema(self, schema: cs.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        # pydantic says "keys matching the pattern have these values"; validate also refuses other keys
        if "patternProperties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out


def _kind_schema(kind: str, ref: str) -> dict[str, Any]:
    return {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": {"$ref": ref}}


def document_schema() -> dict[str, Any]:
    """The JSON Schema of every Enclii document, selected by ``kind``."""
    from enclii_iac.models.platform import PlatformDocument, PlatformSpec
    from enclii_iac.models.service import ServiceDocument
    from enclii_iac.models.tenant import ProjectDocument

    if not STRING_FORMATS:
        STRING_FORMATS.update(_string_formats())
    _, top = models_json_schema(
        [
            (ServiceDocument, "validation"),
            (ProjectDocument, "validation"),
            (PlatformDocument, "validation"),
            (PlatformSpec, "validation"),
        ],
        by_alias=True,
        ref_template="#/$defs/{model}",
        schema_generator=_EncliiJsonSchema,
    )
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    platform_doc = dict(defs["PlatformDocument"])
    platform_doc["properties"] = {**platform_doc["properties"], "spec": {"$ref": "#/$defs/PlatformSpec"}}
    defs["PlatformDocument"] = platform_doc
    return {
        "$schema": SCHEMA_URI,
        "$id": SCHEMA_ID,
        "title": "Enclii document",
        "description": (
            f"One document of an Enclii file (apiVersion {API_VERSION}): kind Platform, Project or Service. "
            "Generated by `enclii-iac schema` from the models `enclii-iac validate` uses; rules across fields "
            "(replicas.min <= max, routes inside the zone, digests in production) are checked by validate only."
        ),
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {
            "apiVersion": {"const": API_VERSION, "description": "Always enclii.dev/v1."},
            "kind": {"enum": list(KINDS), "description": "Platform, Project or Service."},
        },
        "allOf": [
            _kind_schema("Service", "#/$defs/ServiceDocument"),
            _kind_schema("Project", "#/$defs/ProjectDocument"),
            _kind_schema("Platform", "#/$defs/PlatformDocument"),
        ],
        "$defs": dict(sorted(defs.items())),
    }


def kind_schema(kind: str) -> dict[str, Any]:
    """The schema of one kind's documents only (same ``$defs``), e.g. for a file that holds only Services."""
    whole = document_schema()
    ref = {"Service": "ServiceDocument", "Project": "ProjectDocument", "Platform": "PlatformDocument"}[kind]
    return {
        "$schema": SCHEMA_URI,
        "$id": SCHEMA_ID.replace("enclii.schema.json", f"{kind.lower()}.schema.json"),
        "title": f"Enclii {kind} document",
        "$ref": f"#/$defs/{ref}",
        "$defs": whole["$defs"],
    }
