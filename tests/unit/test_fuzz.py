"""Fuzzing (hypothesis): no input reaches a traceback. The loaders, the stack-directory reader and the CLI either
accept what they are given or refuse it with an EncliiIacError (a SpecError naming the field), exit code 1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclii_iac.cli import main
from enclii_iac.errors import EncliiIacError, SpecError
from enclii_iac.models.loader import KINDS, build_platform, load_documents
from enclii_iac.synth import read_stack_dir, run_stack
from tests.conftest import STACKS

SHOP = (STACKS / "production" / "tenants" / "shop.yaml").read_text()
PLATFORM = (STACKS / "production" / "platform.yaml").read_text()
FIELDS = ["apiVersion", "kind", "metadata", "spec", "name", "project", "image", "routes", "host", "path",
          "environments", "replicas", "min", "max", "services", "members", "role", "quota", "cpu", "memory",
          "env", "secrets", "volumes", "deploy", "strategy", "canary", "domains", "overrides", "renamedFrom",
          "hosts", "cluster", "edge", "policy", "allowedRegistries", "tenants", "stage", "domain"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["enclii.dev/v1", *KINDS, "prod", "dev", "web", "ghcr.io/acme/x:1", "shop.example.com", "/",
                     "1Gi", "500m", "*/5 * * * *", "system:masters", "0.0.0.0/0", "preview-pr-1", ""]),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=12), st.integers(), st.booleans(), st.none(),
                 st.floats(allow_nan=False))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def loads_or_refuses(texts: list[tuple[str, str]]) -> None:
    try:
        docs = load_documents(texts)
        tenants = docs.tenants()
        if docs.platform is not None:
            build_platform(docs.platform, tenants, docs.platform_source)
    except SpecError as exc:
        assert exc.issues and all(isinstance(i.message, str) and i.message for i in exc.issues)


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_text_loads_or_is_refused(text: str) -> None:
    loads_or_refuses([("enclii.yaml", text)])


@given(st.sampled_from(KINDS), values, values)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_document_shape_loads_or_is_refused(kind: str, metadata: Any, spec: Any) -> None:
    doc = {"apiVersion": "enclii.dev/v1", "kind": kind, "metadata": metadata, "spec": spec}
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    loads_or_refuses([("enclii.yaml", text)])


@st.composite
def mutated(draw: st.DrawFn, source: str) -> str:
    lines = source.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "indent", "dedent", "replace", "insert"]))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = "  " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        elif op == "replace" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.sampled_from(list(":{}[]&*!|>-'\"#,? 0\t"))) + lines[i][j + 1:]
        else:
            lines.insert(i, draw(st.sampled_from(["&a x", "*a", "- - -", "? [a]", ": :", "!!python/object:os.system",
                                                  "key: &b [*b]", "---", "%YAML 1.2", "\x00", "1: 2"])))
    return "\n".join(lines) + "\n"


@given(mutated(SHOP))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutations_of_a_tenant_file_load_or_are_refused(text: str) -> None:
    loads_or_refuses([("shop.yaml", text)])


@given(mutated(PLATFORM))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutations_of_a_platform_file_load_or_are_refused(text: str) -> None:
    loads_or_refuses([("platform.yaml", text), ("shop.yaml", SHOP)])


@given(st.binary(max_size=300))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_cli_validates_any_bytes_with_exit_0_or_1(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "input.yaml"
    f.write_bytes(data)
    assert main(["validate", str(f)]) in (0, 1)
    assert main(["validate", str(f), "--json"]) in (0, 1)


WORDS = ["validate", "synth", "policy", "schema", "version", "state", "bootstrap", "backups", "verify", "--json",
         "--out", "--stack", "--kind", "--bucket", "--prefix", "--endpoint", "--account-id", "--region",
         "--connect-timeout", "--read-timeout", "--page-size", "--platform", "--check", "Service", "Nope", "x",
         "etcd/=6h", "=", "-1", "0", "1e9", "http://", "https://a b", "/nonexistent", "", "\x00"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-fuzz")


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=7))
@settings(max_examples=150, deadline=None)
def test_the_cli_answers_any_arguments_without_a_traceback(scratch: Path, argv: list[str]) -> None:
    # never reach a real network or a real stack (the endpoint words are unreachable or malformed), and write
    # whatever `--out x` writes into a scratch directory
    if "synth" in argv or "policy" in argv:
        argv = [a if a not in ("x", "") else "/nonexistent" for a in argv]
    old = os.getcwd()
    os.chdir(scratch)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        assert exc.code in (0, 2)
        return
    finally:
        os.chdir(old)
    assert code in (0, 1)


project_files = st.one_of(
    st.text(max_size=200),
    values.map(lambda v: yaml.safe_dump(v)),
    st.builds(lambda n, rest: yaml.safe_dump({"name": n, **(rest if isinstance(rest, dict) else {})}),
              values, values),
)
stack_files = st.one_of(
    st.text(max_size=200),
    values.map(lambda v: yaml.safe_dump(v)),
    values.map(lambda v: yaml.safe_dump({"config": v})),
    st.dictionaries(st.sampled_from(["enclii:spec", "enclii:platform", "enclii:tenantFiles", "enclii:prNumber",
                                     "enclii:tenantSecrets", "enclii:kubeconfig", "x", "a:b:c"]),
                    st.one_of(values, st.just({"secure": "v1:AAAA"})), max_size=4).map(
        lambda c: yaml.safe_dump({"config": c})),
)


@given(project_files, stack_files)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_project_and_stack_file_are_read_or_refused(tmp_path: Path, project: str, stack: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text(project)
    (tmp_path / "Pulumi.s.yaml").write_text(stack)
    try:
        read_stack_dir(tmp_path, "s")
    except EncliiIacError:
        pass


@pytest.fixture(scope="module")
def stack_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("fuzz-stack") / "production"
    shutil.copytree(STACKS / "production", dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@given(st.dictionaries(st.sampled_from(["enclii:platform", "enclii:tenantFiles", "enclii:prNumber",
                                        "enclii:tenantSecrets", "enclii:spec"]),
                       st.one_of(values, st.just({"secure": "v1:AAAA"})), min_size=1, max_size=2))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_stack_config_synthesizes_or_is_refused_before_anything_is_declared(
    stack_copy: Path, config: dict[str, Any]
) -> None:
    base = yaml.safe_load((STACKS / "production" / "Pulumi.production.yaml").read_text())
    (stack_copy / "Pulumi.production.yaml").write_text(yaml.safe_dump({"config": {**base["config"], **config}}))
    try:
        run_stack(stack_copy)
    except SpecError as exc:
        assert exc.declared == 0, exc
    except EncliiIacError:
        pass
