"""enclii_iac: the Enclii platform (Hetzner AX41 + k3s + Cloudflare) as typed Pulumi components.

    from enclii_iac import EncliiPlatform, PlatformSpec, ProjectSpec, Replicas, Route, ServiceSpec, TenantProject

Names are imported lazily (PEP 562): the spec layer (``enclii_iac.models``) and ``enclii-iac validate``
never import Pulumi.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ApiAccessSpec": "enclii_iac.models.cluster",
    "Autoscale": "enclii_iac.models.service",
    "BlueGreenStrategy": "enclii_iac.models.service",
    "BudgetSpec": "enclii_iac.models.cost",
    "CanaryStrategy": "enclii_iac.models.service",
    "CloudServerSpec": "enclii_iac.models.host",
    "CorsRuleSpec": "enclii_iac.models.edge",
    "CustomDomainsSpec": "enclii_iac.models.edge",
    "DedicatedHostSpec": "enclii_iac.models.host",
    "Deploy": "enclii_iac.models.service",
    "EdgeSpec": "enclii_iac.models.edge",
    "EncliiIacError": "enclii_iac.errors",
    "EncliiPlatform": "enclii_iac.platform",
    "EnvironmentSpec": "enclii_iac.models.tenant",
    "EtcdSnapshotSpec": "enclii_iac.models.cluster",
    "Health": "enclii_iac.models.service",
    "HostsSpec": "enclii_iac.models.host",
    "IngressSpec": "enclii_iac.models.platform",
    "K3sClusterSpec": "enclii_iac.models.cluster",
    "K3sHardeningSpec": "enclii_iac.models.cluster",
    "KedaTrigger": "enclii_iac.models.service",
    "LifecycleRuleSpec": "enclii_iac.models.edge",
    "LockRuleSpec": "enclii_iac.models.edge",
    "Member": "enclii_iac.models.tenant",
    "MeteringSpec": "enclii_iac.models.cost",
    "Metrics": "enclii_iac.models.service",
    "PlatformHostSpec": "enclii_iac.models.edge",
    "PlatformProviders": "enclii_iac.platform",
    "PlatformSpec": "enclii_iac.models.platform",
    "PolicySpec": "enclii_iac.models.platform",
    "PortRule": "enclii_iac.models.host",
    "PrivateNetworkSpec": "enclii_iac.models.host",
    "ProjectSpec": "enclii_iac.models.tenant",
    "Quota": "enclii_iac.models.tenant",
    "R2BucketSpec": "enclii_iac.models.edge",
    "R2Spec": "enclii_iac.models.edge",
    "R2TokenSpec": "enclii_iac.models.edge",
    "Replicas": "enclii_iac.models.service",
    "Resources": "enclii_iac.models.service",
    "Route": "enclii_iac.models.service",
    "ServiceOverride": "enclii_iac.models.tenant",
    "ServiceSpec": "enclii_iac.models.service",
    "ServiceType": "enclii_iac.models.service",
    "Slo": "enclii_iac.models.service",
    "SpecError": "enclii_iac.errors",
    "TenantEnvironment": "enclii_iac.kube.tenant",
    "TenantProject": "enclii_iac.kube.tenant",
    "TenantService": "enclii_iac.kube.tenant",
    "TunnelSpec": "enclii_iac.models.edge",
    "UpgradePlanSpec": "enclii_iac.models.cluster",
    "UsageMetering": "enclii_iac.cost.metering",
    "Volume": "enclii_iac.models.service",
    "VolumeSpec": "enclii_iac.models.host",
    "ZoneSettingsSpec": "enclii_iac.models.edge",
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
    from enclii_iac.cost.metering import UsageMetering as UsageMetering
    from enclii_iac.errors import EncliiIacError as EncliiIacError
    from enclii_iac.errors import SpecError as SpecError
    from enclii_iac.kube.tenant import TenantEnvironment as TenantEnvironment
    from enclii_iac.kube.tenant import TenantProject as TenantProject
    from enclii_iac.kube.tenant import TenantService as TenantService
    from enclii_iac.models.cluster import ApiAccessSpec as ApiAccessSpec
    from enclii_iac.models.cluster import EtcdSnapshotSpec as EtcdSnapshotSpec
    from enclii_iac.models.cluster import K3sClusterSpec as K3sClusterSpec
    from enclii_iac.models.cluster import K3sHardeningSpec as K3sHardeningSpec
    from enclii_iac.models.cluster import UpgradePlanSpec as UpgradePlanSpec
    from enclii_iac.models.cost import BudgetSpec as BudgetSpec
    from enclii_iac.models.cost import MeteringSpec as MeteringSpec
    from enclii_iac.models.edge import CorsRuleSpec as CorsRuleSpec
    from enclii_iac.models.edge import CustomDomainsSpec as CustomDomainsSpec
    from enclii_iac.models.edge import EdgeSpec as EdgeSpec
    from enclii_iac.models.edge import LifecycleRuleSpec as LifecycleRuleSpec
    from enclii_iac.models.edge import LockRuleSpec as LockRuleSpec
    from enclii_iac.models.edge import PlatformHostSpec as PlatformHostSpec
    from enclii_iac.models.edge import R2BucketSpec as R2BucketSpec
    from enclii_iac.models.edge import R2Spec as R2Spec
    from enclii_iac.models.edge import R2TokenSpec as R2TokenSpec
    from enclii_iac.models.edge import TunnelSpec as TunnelSpec
    from enclii_iac.models.edge import ZoneSettingsSpec as ZoneSettingsSpec
    from enclii_iac.models.host import CloudServerSpec as CloudServerSpec
    from enclii_iac.models.host import DedicatedHostSpec as DedicatedHostSpec
    from enclii_iac.models.host import HostsSpec as HostsSpec
    from enclii_iac.models.host import PortRule as PortRule
    from enclii_iac.models.host import PrivateNetworkSpec as PrivateNetworkSpec
    from enclii_iac.models.host import VolumeSpec as VolumeSpec
    from enclii_iac.models.loader import load_platform as load_platform
    from enclii_iac.models.loader import load_tenants as load_tenants
    from enclii_iac.models.platform import IngressSpec as IngressSpec
    from enclii_iac.models.platform import PlatformSpec as PlatformSpec
    from enclii_iac.models.platform import PolicySpec as PolicySpec
    from enclii_iac.models.service import Autoscale as Autoscale
    from enclii_iac.models.service import BlueGreenStrategy as BlueGreenStrategy
    from enclii_iac.models.service import CanaryStrategy as CanaryStrategy
    from enclii_iac.models.service import Deploy as Deploy
    from enclii_iac.models.service import Health as Health
    from enclii_iac.models.service import KedaTrigger as KedaTrigger
    from enclii_iac.models.service import Metrics as Metrics
    from enclii_iac.models.service import Replicas as Replicas
    from enclii_iac.models.service import Resources as Resources
    from enclii_iac.models.service import Route as Route
    from enclii_iac.models.service import ServiceSpec as ServiceSpec
    from enclii_iac.models.service import ServiceType as ServiceType
    from enclii_iac.models.service import Slo as Slo
    from enclii_iac.models.service import Volume as Volume
    from enclii_iac.models.tenant import EnvironmentSpec as EnvironmentSpec
    from enclii_iac.models.tenant import Member as Member
    from enclii_iac.models.tenant import ProjectSpec as ProjectSpec
    from enclii_iac.models.tenant import Quota as Quota
    from enclii_iac.models.tenant import ServiceOverride as ServiceOverride
    from enclii_iac.platform import EncliiPlatform as EncliiPlatform
    from enclii_iac.platform import PlatformProviders as PlatformProviders
    from enclii_iac.platform import build_preview as build_preview
    from enclii_iac.platform import build_production as build_production
