"""Markdown reference tables generated from the specs' JSON Schema (never hand-copied defaults).

``python -m enclii_iac.reference > docs/reference.md``; a test keeps the committed file in sync.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.service import ServiceSpec
from enclii_iac.models.tenant import EnvironmentSpec, ProjectBody


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " \\| ".join(_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    t = prop.get("type", "any")
    if t == "array":
        return f"list[{_type(prop.get('items', {}))}]"
    if t == "object" and "additionalProperties" in prop:
        return f"map[{_type(prop['additionalProperties'])}]"
    return str(t)


def _table(name: str, schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [str(schema["description"]).split("\n")[0], ""]
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    for field, prop in schema.get("properties", {}).items():
        default = "required" if field in required else json.dumps(prop.get("default")) if "default" in prop else ""
        desc = str(prop.get("description", "")).replace("|", "\\|")
        lines.append(f"| `{field}` | {_type(prop)} | {default} | {desc} |")
    return [*lines, ""]


def markdown() -> str:
    out = ["# Spec reference", "", "Generated from the models' JSON Schema by `python -m enclii_iac.reference`.",
           "Field names are the YAML (camelCase) names; Python accepts the snake_case names too.", ""]
    roots: list[tuple[str, type[BaseModel]]] = [
        ("Service spec (`kind: Service`, `spec:`)", ServiceSpec),
        ("Project spec (`kind: Project`, `spec:`)", ProjectBody),
        ("Environment", EnvironmentSpec),
        ("Platform spec (`kind: Platform`, `spec:`)", PlatformSpec),
    ]
    seen: set[str] = set()
    for title, model in roots:
        schema = model.model_json_schema(by_alias=True)
        out += [f"## {title}", ""]
        out += _table(model.__name__, schema)
        seen.add(model.__name__)
        for name, sub in sorted(schema.get("$defs", {}).items()):
            if name in seen or "properties" not in sub:
                continue
            seen.add(name)
            out += _table(name, sub)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
