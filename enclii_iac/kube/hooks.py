"""What the platform-services layer hands the tenant components: CRD dependencies and network allowances.

Plain data (resources and labels), so the tenant components never import the services layer: a service of
the layer (monitoring, tracing, a data service) adds what tenants need from it, and TenantProject applies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi


@dataclass(frozen=True)
class EgressTarget:
    """Pods of the platform every tenant environment may reach, on these TCP ports only."""

    name: str
    """Key of the allowance, in the NetworkPolicy's name (``allow-<name>``)."""
    namespace: str
    pod_labels: Mapping[str, str]
    ports: Sequence[int]


@dataclass(frozen=True)
class ScrapeSource:
    """The pods that scrape tenants' metrics ports (Prometheus)."""

    namespace: str
    pod_labels: Mapping[str, str]


@dataclass(frozen=True)
class PlatformHooks:
    """``crds``: ``group/Kind`` (or a whole API ``group``) → the resources that install that CRD (each tenant
    custom resource of that kind depends on them); ``egress``: platform pods every tenant environment may
    reach; ``scrape``: who may scrape a service's metrics port (an ingress allowance next to each
    ServiceMonitor)."""

    crds: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    egress: Sequence[EgressTarget] = ()
    scrape: ScrapeSource | None = None

    def installs(self, api_version: str, kind: str) -> list[pulumi.Resource]:
        """The resources a custom resource of ``api_version`` (``group/version``) and ``kind`` waits for."""
        group = api_version.split("/", 1)[0]
        return list(self.crds.get(f"{group}/{kind}", self.crds.get(group, ())))
