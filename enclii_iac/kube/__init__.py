"""Tenant components: projects, environments and services on the cluster, and the cluster's admission policies."""

from enclii_iac.kube.admission import TenantAdmission
from enclii_iac.kube.tenant import SecretValues, TenantEnvironment, TenantProject, TenantService

__all__ = ["SecretValues", "TenantAdmission", "TenantEnvironment", "TenantProject", "TenantService"]
