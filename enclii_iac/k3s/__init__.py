"""The k3s cluster on the hosts: hardened config, etcd snapshots to R2, kubeconfig and a Kubernetes provider."""

from enclii_iac.k3s import _mocks
from enclii_iac.k3s.cluster import (
    TYPE_K3S_CLUSTER,
    EtcdS3Credentials,
    K3sCluster,
    system_upgrade_manifest_urls,
    upgrade_plans,
)

_mocks.install()

__all__ = ["TYPE_K3S_CLUSTER", "EtcdS3Credentials", "K3sCluster", "system_upgrade_manifest_urls", "upgrade_plans"]
