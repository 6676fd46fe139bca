"""Host the enclii components for other Pulumi languages (source-based plugin package)."""

from enclii_components import EncliiPlatform, TenantProject
from pulumi.provider.experimental import component_provider_host

if __name__ == "__main__":
    component_provider_host(name="enclii", components=[EncliiPlatform, TenantProject], version="0.1.0")
