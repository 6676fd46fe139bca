"""enclii_iac: the Enclii platform (Hetzner AX41 + k3s + Cloudflare) as typed Pulumi components.

    from enclii_iac import EncliiPlatform, PlatformSpec, ServiceSpec, TenantProject

Names are imported lazily (PEP 562): the spec layer (``enclii_iac.models``) and ``enclii-iac validate``
never import Pulumi.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "EncliiIacError": "enclii_iac.errors",
    "EncliiPlatform": "enclii_iac.platform",
    "EnvironmentSpec": "enclii_iac.models.tenant",
    "Member": "enclii_iac.models.tenant",
    "PlatformProviders": "enclii_iac.platform",
    "PlatformSpec": "enclii_iac.models.platform",
    "ProjectSpec": "enclii_iac.models.tenant",
    "ServiceSpec": "enclii_iac.models.service",
    "ServiceType": "enclii_iac.models.service",
    "SpecError": "enclii_iac.errors",
    "TenantEnvironment": "enclii_iac.kube.tenant",
    "TenantProject": "enclii_iac.kube.tenant",
    "TenantService": "enclii_iac.kube.tenant",
    "build_preview": "enclii_iac.platform",
    "build_production": "enclii_iac.platform",
    "load_platform": "enclii_iac.models.loader",
    "load_tenants": "enclii_iac.models.loader",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'enclii_iac' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from enclii_iac.errors import EncliiIacError as EncliiIacError
    from enclii_iac.errors import SpecError as SpecError
    from enclii_iac.kube.tenant import TenantEnvironment as TenantEnvironment
    from enclii_iac.kube.tenant import TenantProject as TenantProject
    from enclii_iac.kube.tenant import TenantService as TenantService
    from enclii_iac.models.loader import load_platform as load_platform
    from enclii_iac.models.loader import load_tenants as load_tenants
    from enclii_iac.models.platform import PlatformSpec as PlatformSpec
    from enclii_iac.models.service import ServiceSpec as ServiceSpec
    from enclii_iac.models.service import ServiceType as ServiceType
    from enclii_iac.models.tenant import EnvironmentSpec as EnvironmentSpec
    from enclii_iac.models.tenant import Member as Member
    from enclii_iac.models.tenant import ProjectSpec as ProjectSpec
    from enclii_iac.platform import EncliiPlatform as EncliiPlatform
    from enclii_iac.platform import PlatformProviders as PlatformProviders
    from enclii_iac.platform import build_preview as build_preview
    from enclii_iac.platform import build_production as build_production
