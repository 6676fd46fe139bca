"""naming.py is part of the external contract: golden table + properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enclii_iac.naming import (
    RFC1123_LABEL,
    TYPE_TENANT_SERVICE,
    child_name,
    dns_label,
    namespace_name,
    type_token,
)
from enclii_iac.testing import assert_golden
from tests.conftest import GOLDEN

GOLDEN_INPUTS = [
    ("api",),
    ("shop", "prod"),
    ("Shop", "Prod"),
    ("shop", "preview-pr-42"),
    ("a" * 70,),
    ("shop", "a'b"),
    ("x$(rm -rf /)",),
    ("line\nbreak",),
    ("../../etc/passwd",),
    ("-leading", "trailing-"),
    ("ünïcödé",),
    ("api", "web", "worker", "cron", "job", "tcp", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
]


def test_dns_label_golden() -> None:
    table = {"|".join(parts): dns_label(*parts) for parts in GOLDEN_INPUTS}
    assert_golden(GOLDEN / "naming" / "dns_label.json", json.dumps(table, indent=2, ensure_ascii=False) + "\n")


def test_dns_label_keeps_valid_names_readable() -> None:
    assert dns_label("shop", "prod") == "shop-prod"
    assert namespace_name("shop", "preview-pr-7") == "shop-preview-pr-7"


def test_dns_label_disambiguates_sanitised_collisions() -> None:
    assert dns_label("a_b") != dns_label("a.b")
    assert dns_label("A") != "a"  # changed input is hashed, so it cannot collide with the literal "a"


@given(st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=5))
@settings(max_examples=300)
def test_dns_label_always_valid(parts: list[str]) -> None:
    label = dns_label(*parts)
    assert RFC1123_LABEL.fullmatch(label), label
    assert len(label) <= 63
    assert dns_label(*parts) == label  # deterministic


@given(st.integers(min_value=10, max_value=63), st.text(min_size=1, max_size=200))
def test_dns_label_respects_max_len(max_len: int, text: str) -> None:
    assert len(dns_label(text, max_len=max_len)) <= max_len


def test_type_tokens_and_children() -> None:
    assert TYPE_TENANT_SERVICE == "enclii:index:TenantService"
    assert type_token("K3sCluster") == "enclii:index:K3sCluster"
    with pytest.raises(ValueError, match="PascalCase"):
        type_token("k3s:cluster")
    assert child_name("shop-prod-api", "pdb") == "shop-prod-api-pdb"
    with pytest.raises(ValueError, match="non-empty"):
        child_name("x", "")
