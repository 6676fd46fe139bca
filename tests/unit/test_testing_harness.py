"""enclii_iac.testing, the harness shipped to downstream programs: what it records and emulates."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest

from enclii_iac.testing import REDACTED, Recorder, assert_golden, redact, reveal


def program() -> None:
    prov = k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("kc"))
    pw = random.RandomPassword("pw", length=20)
    comp = pulumi.ComponentResource("enclii:index:Thing", "thing", None,
                                    pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old-thing")]))
    ns = k8s.core.v1.Namespace("ns", metadata={"name": "a"},
                               opts=pulumi.ResourceOptions(provider=prov, parent=comp, protect=True,
                                                           retain_on_delete=True))
    k8s.core.v1.Secret("s", metadata={"name": "s", "namespace": "a"}, string_data={"P": pw.result},
                       opts=pulumi.ResourceOptions(provider=prov, parent=comp, depends_on=[ns],
                                                   ignore_changes=["metadata"]))
    comp.register_outputs({})
    pulumi.export("password", pw.result)
    pulumi.export("plain", "x")


def test_records_everything_a_registration_carries() -> None:
    rec = Recorder(project="p", stack="s").run(program)
    ns = rec.one("kubernetes:core/v1:Namespace", "ns")
    secret = rec.one("kubernetes:core/v1:Secret", "s")
    thing = rec.one("enclii:index:Thing", "thing")
    assert ns.protect and ns.retain_on_delete and not secret.protect
    assert ns.provider_name == "k8s" and rec.parent_of(ns) is thing
    assert thing.aliases == ["old-thing"] and not thing.custom
    pw = rec.one("random:index/randomPassword:RandomPassword", "pw")
    assert sorted(secret.dependencies) == sorted([ns.urn, pw.urn])  # explicit and through inputs
    assert secret.ignore_changes == ["metadata"]
    assert rec.one("pulumi:providers:kubernetes", "k8s").secret_inputs == ["kubeconfig"]
    assert rec.count("kubernetes:core/v1:Secret") == 1
    assert rec.has_props("kubernetes:core/v1:Namespace", metadata={"name": "a"}) == [ns]
    assert rec.has_props("kubernetes:core/v1:Namespace", metadata={"name": "b"}) == []
    assert rec.tree() == sorted([
        "enclii:index:Thing thing <- (stack)",
        "kubernetes:core/v1:Namespace ns <- enclii:index:Thing thing",
        "kubernetes:core/v1:Secret s <- enclii:index:Thing thing",
        "pulumi:providers:kubernetes k8s <- (stack)",
        "random:index/randomPassword:RandomPassword pw <- (stack)",
    ])


def test_emulates_provider_secret_outputs_deterministically() -> None:
    first = Recorder().run(program)
    second = Recorder().run(program)
    secret = first.one("kubernetes:core/v1:Secret", "s")
    assert secret.secret_inputs == ["stringData"]  # RandomPassword.result is secret, as with the real provider
    value = reveal(secret.inputs["stringData"])["P"]
    assert len(value) == 20 and value == reveal(second.one("kubernetes:core/v1:Secret", "s").inputs["stringData"])["P"]
    assert redact(first.stack_outputs) == {"password": REDACTED, "plain": "x"}


def test_a_failing_program_leaves_what_it_declared() -> None:
    rec = Recorder()

    def broken() -> None:
        k8s.Provider("k8s", kubeconfig="kc")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        rec.run(broken)
    assert [r.type for r in rec.records] == ["pulumi:providers:kubernetes"]


def test_assert_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    golden = tmp_path / "g.txt"
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    assert_golden(golden, "a\n")  # a missing file is written outside CI
    assert_golden(golden, "a\n")
    with pytest.raises(AssertionError, match=r"differs \(UPDATE_GOLDEN=1 to accept\)"):
        assert_golden(golden, "b\n")
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    assert_golden(golden, "b\n")
    assert golden.read_text() == "b\n"
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("UPDATE_GOLDEN")
    with pytest.raises(AssertionError, match="is missing"):
        assert_golden(tmp_path / "new.txt", "x")


def test_each_run_gets_a_fresh_stack() -> None:
    Recorder(project="first", stack="one").run(lambda: pulumi.export("leftover", "x"))
    rec = Recorder(project="second", stack="two").run(program)
    assert set(rec.stack_outputs) == {"password", "plain"}
    top = rec.one("enclii:index:Thing", "thing")
    assert top.parent_urn == "urn:pulumi:two::second::pulumi:pulumi:Stack::second-two"
