"""enclii_iac: the Enclii platform (Hetzner AX41 + k3s + Cloudflare) as typed Pulumi components.

    from enclii_iac import EncliiPlatform, PlatformSpec, ServiceSpec, TenantProject
"""

from enclii_iac.errors import EncliiIacError, SpecError
from enclii_iac.kube.tenant import TenantEnvironment, TenantProject, TenantService
from enclii_iac.models.loader import load_platform, load_tenants
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.models.service import ServiceSpec, ServiceType
from enclii_iac.models.tenant import EnvironmentSpec, Member, ProjectSpec
from enclii_iac.platform import EncliiPlatform, PlatformProviders, build_preview, build_production

__version__ = "0.1.0"

__all__ = [
    "EncliiIacError",
    "EncliiPlatform",
    "EnvironmentSpec",
    "Member",
    "PlatformProviders",
    "PlatformSpec",
    "ProjectSpec",
    "ServiceSpec",
    "ServiceType",
    "SpecError",
    "TenantEnvironment",
    "TenantProject",
    "TenantService",
    "build_preview",
    "build_production",
    "load_platform",
    "load_tenants",
]
