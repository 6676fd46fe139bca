"""One JSON Schema for every Enclii document, and `enclii-iac validate` agreeing with it.

Agreement, in both directions where JSON Schema can say a rule:
- the schema never rejects what validate accepts (an editor never flags a valid file): a property over random
  mutations of real documents;
- what validate rejects field by field, the schema rejects too: a table of cases over every kind of rule
  (types, enums, unknown and missing fields, bounds, string syntax), and a property per validated string type
  (its pattern and its Python validator accept the same strings).
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclii_iac.cli import main
from enclii_iac.errors import SpecError
from enclii_iac.models.loader import build_platform, load_documents
from enclii_iac.schema import SCHEMA_ID, STRING_FORMATS, VALIDATE_ONLY, document_schema
from tests.conftest import ROOT, STACKS

SCHEMA = document_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SHOP = list(yaml.safe_load_all((STACKS / "production" / "tenants" / "shop.yaml").read_text()))
PLATFORM = yaml.safe_load((STACKS / "production" / "platform.yaml").read_text())
PROJECT = {"apiVersion": "enclii.dev/v1", "kind": "Project", "metadata": {"name": "shop"},
           "spec": {"environments": {"prod": {}}}}
"""The project a Service document of the table belongs to (one environment: a route host belongs to one)."""
SHOP_PROJECT = copy.deepcopy(SHOP[0])
del SHOP_PROJECT["spec"]["environments"]["dev"]["overrides"]  # they name services of other documents


def schema_ok(doc: Any) -> bool:
    return VALIDATOR.is_valid(doc)


def validate_ok(doc: Any) -> bool:
    """What `enclii-iac validate` says of one document (a Service needs its project, as in a real file)."""
    docs = [doc]
    if isinstance(doc, dict) and doc.get("kind") == "Service":
        docs = [PROJECT, doc] if doc.get("metadata", {}).get("project") == "shop" else docs
    text = "".join("---\n" + yaml.safe_dump(d) for d in docs)
    try:
        found = load_documents([("doc.yaml", text)])
        tenants = found.tenants()
        if found.platform is not None:
            build_platform(found.platform, tenants, found.platform_source)
    except SpecError:
        return False
    return True


# --- the document ------------------------------------------------------------------------------------------


def test_one_draft_2020_12_schema_with_an_id_selected_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema" and SCHEMA["$id"] == SCHEMA_ID
    assert SCHEMA["properties"]["kind"] == {"enum": ["Platform", "Project", "Service"],
                                           "description": "Platform, Project or Service."}
    assert [b["then"]["$ref"] for b in SCHEMA["allOf"]] == [
        "#/$defs/ServiceDocument", "#/$defs/ProjectDocument", "#/$defs/PlatformDocument"]
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA


def test_the_committed_schema_file_is_current() -> None:
    committed = json.loads((ROOT / "schemas" / "enclii.schema.json").read_text())
    assert committed == SCHEMA, "schemas/enclii.schema.json is stale: run `enclii-iac schema --out " \
                                "schemas/enclii.schema.json`"


def every_example_document() -> Iterator[tuple[str, Any]]:
    for path in [*STACKS.rglob("*.yaml"), *(ROOT / "examples").rglob("*.yaml")]:
        if path.name.startswith("Pulumi."):
            continue
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                yield f"{path.relative_to(ROOT)}#{i + 1}", doc


@pytest.mark.parametrize(("where", "doc"), list(every_example_document()))
def test_every_example_document_is_valid_for_the_schema(where: str, doc: Any) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert errors == [], where


def test_stack_files_carry_the_editor_modeline() -> None:
    for path in [STACKS / "production" / "platform.yaml", STACKS / "production" / "tenants" / "shop.yaml",
                 STACKS / "preview" / "platform.yaml"]:
        first = path.read_text().splitlines()[0]
        assert re.fullmatch(r"# yaml-language-server: \$schema=(\.\./)+schemas/enclii\.schema\.json", first), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target == (ROOT / "schemas" / "enclii.schema.json").resolve()


# --- agreement: a table of cases ---------------------------------------------------------------------------


def service(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SHOP[1])
    doc["spec"].update(spec)
    return doc


def platform(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PLATFORM)
    doc["spec"].update(spec)
    return doc


def without(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    return doc


CASES: list[tuple[str, Any, bool]] = [
    ("a valid service", service(), True),
    ("port as a string (once accepted by validate, refused by the schema)", service(port="8080"), False),
    ("port out of range", service(port=70000), False),
    ("replicas.min as a string", service(replicas={"min": "2"}), False),
    ("a boolean as a string", service(deploy={"strategy": "rolling"}, metrics={"path": "/m", "port": "9090"}), False),
    ("an unknown type", service(type="daemon"), False),
    ("an unknown field", service(colour="blue"), False),
    ("an image that is no reference", service(image="Not An Image"), False),
    ("a route host in upper case", service(routes=[{"host": "API.example.com"}]), False),
    ("a route path with ..", service(routes=[{"host": "api.shop.example.com", "path": "/a/../b"}]), False),
    ("cpu zero", service(resources={"cpu": "0m", "memory": "256Mi"}), False),
    ("memory without a number", service(resources={"cpu": "1", "memory": "Mi"}), False),
    ("a bad env name", service(env={"1X": "y"}), False),
    ("an env value that is a number", service(env={"X": 1}), False),
    ("a duration without unit", service(health={"path": "/healthz", "initialDelay": "5"}), False),
    ("a cron with 4 fields", {**service(), "spec": {"type": "cron", "image": SHOP[1]["spec"]["image"],
                                                    "schedule": "* * * *"}}, False),
    ("no metadata.project", without(service(), "metadata", "project"), False),
    ("metadata.name too long", {**service(), "metadata": {"name": "a" * 31, "project": "shop"}}, False),
    ("the wrong apiVersion", {**service(), "apiVersion": "enclii.dev/v2"}, False),
    ("an unknown kind", {**service(), "kind": "Database"}, False),
    ("no kind", without(service(), "kind"), False),
    ("a valid project", SHOP_PROJECT, True),
    ("an environment that is not dev/stage/prod/preview-*", {**SHOP_PROJECT, "spec": {"environments": {"qa": {}}}},
     False),
    ("a member role that does not exist", {**SHOP_PROJECT, "spec": {"members": [{"name": "a", "role": "god"}]}},
     False),
    ("a valid platform", PLATFORM, True),
    ("platform metadata with an unknown field", {**PLATFORM, "metadata": {"name": "enclii", "team": "x"}}, False),
    ("platform spec not a mapping", {**PLATFORM, "spec": "production"}, False),
    ("a stage that does not exist", platform(stage="staging"), False),
    ("a domain in upper case", platform(domain="Example.com"), False),
    ("an account id that is not 32 hex", platform(edge={**PLATFORM["spec"]["edge"], "accountId": "xyz"}), False),
    ("an ssh allow-list of the whole internet", platform(hosts={"dedicated": {"ax41": {
        **PLATFORM["spec"]["hosts"]["dedicated"]["ax41"], "sshAllowCidrs": ["0.0.0.0/0"]}}}), False),
    ("root as the admin user", platform(hosts={"dedicated": {"ax41": {
        **PLATFORM["spec"]["hosts"]["dedicated"]["ax41"], "adminUser": "root"}}}), False),
    ("a k3s channel instead of a release", platform(cluster={**PLATFORM["spec"]["cluster"], "version": "stable"}),
     False),
    ("an apiAccess mode that does not exist", platform(cluster={**PLATFORM["spec"]["cluster"],
                                                               "apiAccess": {"mode": "vpn"}}), False),
]


@pytest.mark.parametrize(("what", "doc", "ok"), CASES, ids=[c[0] for c in CASES])
def test_validate_and_the_schema_agree(what: str, doc: Any, ok: bool) -> None:
    assert (validate_ok(doc), schema_ok(doc)) == (ok, ok), what


# --- agreement: properties ---------------------------------------------------------------------------------


def _validators() -> dict[str, Callable[[str], Any]]:
    out = {}
    for key in STRING_FORMATS:  # filled by document_schema() above
        module, name = key.rsplit(".", 1)
        out[key] = getattr(importlib.import_module(module), name)
    return out


VALIDATORS = _validators()
STRING_TYPES = sorted(k for k, v in STRING_FORMATS.items() if "pattern" in v)


def _accepts(fn: Callable[[str], Any], value: str) -> bool:
    try:
        fn(value)
    except (ValueError, TypeError):
        return False
    return True


_COMPILED = {k: re.compile(v["pattern"]) for k, v in STRING_FORMATS.items() if "pattern" in v}


def _schema_accepts(key: str, value: str) -> bool:
    """What a JSON Schema validator does with the type's keywords (``pattern`` is an unanchored search)."""
    limit = STRING_FORMATS[key].get("maxLength")
    return _COMPILED[key].search(value) is not None and (limit is None or len(value) <= limit)


def test_the_shortcut_agrees_with_jsonschema() -> None:
    for key in STRING_TYPES:
        keywords = {k: v for k, v in STRING_FORMATS[key].items() if k in ("pattern", "maxLength")}
        check = jsonschema.Draft202012Validator({"type": "string", **keywords})
        for value in ("", "a", "api", "a" * 40, "/x", "500m", "1Gi", "ghcr.io/a/b:1", "198.51.100.7/32"):
            assert check.is_valid(value) == _schema_accepts(key, value), (key, value)


def test_the_mutated_documents_start_valid() -> None:
    assert len(BASES) >= 4 and all(validate_ok(b) and schema_ok(b) for b in BASES)


def test_every_validated_string_type_has_its_schema_counterpart() -> None:
    assert set(VALIDATE_ONLY) <= set(STRING_FORMATS)
    assert len(STRING_TYPES) >= 25


# Python's re lets $ match before a final newline, ECMAScript's does not; editors use ECMAScript
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=40)


@pytest.mark.parametrize("key", STRING_TYPES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_each_string_pattern_accepts_what_its_validator_accepts(key: str, data: st.DataObject) -> None:
    fn = VALIDATORS[key]
    pattern = STRING_FORMATS[key]["pattern"]
    candidate = data.draw(st.one_of(_text, st.from_regex(pattern, fullmatch=True).filter(lambda s: "\n" not in s)))
    python, schema = _accepts(fn, candidate), _schema_accepts(key, candidate)
    if python:
        assert schema, f"{key}: validate accepts {candidate!r}, the schema refuses it"
    elif key not in VALIDATE_ONLY:
        assert not schema, f"{key}: the schema accepts {candidate!r}, validate refuses it"


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


BASES = [d for d in [SHOP_PROJECT, *SHOP[1:], PLATFORM] if validate_ok(d)]  # services without dependsOn
LEAVES = [(i, p) for i, base in enumerate(BASES) for p in _leaves(base)]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False, allow_infinity=False, width=32),
    _text, st.sampled_from(["8080", "true", "1", "0", "web", "500m", "256Mi", "5s", "/", "api", "a-b",
                            "198.51.100.7/32", "0.0.0.0/0", "ghcr.io/acme/x:1", "@daily"]),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.sampled_from(["a", "min"]), st.integers(), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(leaf=st.sampled_from(LEAVES), value=scalars)
def test_the_schema_never_refuses_what_validate_accepts(leaf: tuple[int, tuple[Any, ...]], value: Any) -> None:
    index, path = leaf
    doc = copy.deepcopy(BASES[index])
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    if validate_ok(doc):
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
        assert errors == [], f"validate accepts {'.'.join(map(str, path))} = {value!r}; the schema says {errors}"
