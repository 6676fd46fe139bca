"""Edge TLS: every tenant, platform and preview hostname is covered by Universal SSL or a certificate pack."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enclii_iac.models.edge_tls import CertificatePackSpec, covered
from enclii_iac.models.loader import load_platform
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.preview.spec import preview_host, preview_spec
from enclii_iac.render.edge import tenant_edge
from tests.conftest import DIGEST, STACKS

ZONE = "example.com"
PACK = {"deep": CertificatePackSpec(hosts=["*.preview", "api.shop"])}
LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=30).filter(
    lambda s: any(c.isalnum() for c in s))


def test_universal_ssl_covers_the_apex_and_one_label_only() -> None:
    assert covered("example.com", ZONE, {})
    assert covered("shop.example.com", ZONE, {})
    assert covered("*.example.com", ZONE, {})
    assert not covered("api.shop.example.com", ZONE, {})
    assert not covered("*.preview.example.com", ZONE, {})
    assert not covered("example.org", ZONE, PACK)


def test_a_pack_covers_its_exact_names_and_one_label_under_its_wildcards() -> None:
    assert covered("api.shop.example.com", ZONE, PACK)
    assert not covered("www.shop.example.com", ZONE, PACK)
    assert covered("*.preview.example.com", ZONE, PACK)
    assert covered("api-shop-pr-7.preview.example.com", ZONE, PACK)
    assert not covered("a.b.preview.example.com", ZONE, PACK)  # a wildcard is one label deep


@given(LABEL, LABEL, st.integers(min_value=1, max_value=99999))
def test_every_preview_url_is_under_the_preview_wildcard(service: str, project: str, pr: int) -> None:
    assert covered(preview_host(service, project, pr, ZONE), ZONE, PACK)


def _spec(edge: dict[str, Any], host: str) -> PlatformSpec:
    return PlatformSpec.model_validate({
        "domain": ZONE,
        "edge": {"accountId": "0" * 32, "zoneId": "f" * 32, "r2": None, **edge},
        "tenants": {"shop": {"services": {"api": {"image": "ghcr.io/acme/api" + DIGEST,
                                                  "routes": [{"host": host}]}}}},
    })


def test_a_deep_name_without_a_pack_is_refused_at_its_route() -> None:
    with pytest.raises(ValueError) as exc:
        _spec({"previewWildcard": False}, "api.shop.example.com")
    text = str(exc.value)
    assert "tenants.shop.services.api.routes.0.host" in text
    assert "add api.shop (or *.shop) to edge.certificatePacks" in text


def test_the_preview_wildcard_needs_its_pack() -> None:
    with pytest.raises(ValueError) as exc:
        _spec({}, "shop.example.com")
    assert "edge.previewSubdomain" in str(exc.value)
    assert "*.preview.example.com is two or more labels under" in str(exc.value)
    assert "add *.preview to edge.certificatePacks" in str(exc.value)
    assert _spec({"certificatePacks": {"deep": {"hosts": ["*.preview"]}}}, "shop.example.com").edge is not None


def test_pack_hosts_are_names_relative_to_the_zone() -> None:
    with pytest.raises(ValueError, match="not a name relative to the zone"):
        CertificatePackSpec(hosts=["https://api.shop"])
    with pytest.raises(ValueError, match="listed twice"):
        CertificatePackSpec(hosts=["*.preview", "*.preview"])


def test_the_production_stack_covers_every_tenant_and_preview_hostname() -> None:
    spec = load_platform(STACKS / "production" / "platform.yaml", [STACKS / "production" / "tenants" / "shop.yaml"])
    assert spec.edge is not None
    hosts = [r.host for r in tenant_edge(spec.tenants).routes]
    preview = preview_spec(spec.model_copy(update={"stage": "preview", "edge": None, "cluster": None,
                                                   "hosts": None}), 42)
    hosts += [r.host for r in tenant_edge(preview.tenants).routes]
    assert any(h.endswith(".preview.example.com") for h in hosts)
    assert all(covered(h, spec.domain, spec.edge.certificate_packs) for h in hosts), hosts
