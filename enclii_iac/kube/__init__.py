"""Tenant components: projects, environments and services on the cluster."""

from enclii_iac.kube.tenant import SecretValues, TenantEnvironment, TenantProject, TenantService

__all__ = ["SecretValues", "TenantEnvironment", "TenantProject", "TenantService"]
