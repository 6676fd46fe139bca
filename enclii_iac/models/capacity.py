"""What the cluster's nodes can hold, and whether the tenants' quotas fit in it. Pure: specs in, report out.

One AX41 carries the OS, the whole control plane and every tenant, so the kubelet keeps
``systemReserved + kubeReserved + evictionHardMemory`` back from pods (``K3sClusterSpec.reservations``) and
the platform's own pods take their share. What is left is the tenants' budget:

- production quotas (environment ``prod``) must fit in it, requests and memory limits alike: memory is not
  compressible, so production pods that all reach their limits must still fit on the node;
- every environment together (dev, stage, previews) may oversubscribe it: that is reported, not refused;
- no container may ask for more than one node can give.

A spec without a cluster (an existing cluster, a preview on production's) is judged against one AX41.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from enclii_iac import host_defaults as hd
from enclii_iac.models._base import cpu_millis, memory_bytes
from enclii_iac.models._issues import Loc
from enclii_iac.models.cluster import K3sClusterSpec, NodeReservationsSpec
from enclii_iac.models.host import HostsSpec
from enclii_iac.models.tenant import ProjectSpec

MAX_PODS_PER_NODE = 110
"""kubelet's default ``max-pods``."""
PLATFORM_PODS = 10
"""Pods the platform runs on the node itself (Traefik, CoreDNS, metrics-server, local-path, cloudflared...)."""

REFERENCE_NODE = "ax41"


@dataclass(frozen=True)
class Node:
    """One node's capacity as the kubelet reports it, and what it leaves to pods."""

    name: str
    cpu_m: int
    memory: int
    allocatable_cpu_m: int
    allocatable_memory: int


@dataclass(frozen=True)
class CapacityReport:
    """The nodes, the tenants' budget and what the quotas ask of it."""

    nodes: tuple[Node, ...]
    budget_cpu_m: int
    budget_memory: int
    budget_pods: int
    prod_cpu_m: int
    prod_memory: int
    prod_memory_limit: int
    prod_pods: int
    all_cpu_m: int
    all_memory: int
    errors: tuple[tuple[Loc, str], ...] = ()
    warnings: tuple[str, ...] = field(default=())


def fmt_cpu(m: int) -> str:
    return f"{m / 1000:g} CPU"


def fmt_mem(b: int) -> str:
    return f"{b / 2**30:.1f}Gi" if b % 2**30 else f"{b // 2**30}Gi"


def allocatable(cpu_m: int, memory: int, r: NodeReservationsSpec) -> tuple[int, int]:
    """``(cpu millicores, memory bytes)`` the kubelet offers pods (``node.status.allocatable``)."""
    cpu = cpu_m - cpu_millis(r.system_reserved_cpu) - cpu_millis(r.kube_reserved_cpu)
    mem = (memory - memory_bytes(r.system_reserved_memory) - memory_bytes(r.kube_reserved_memory)
           - memory_bytes(r.eviction_hard_memory))
    return max(cpu, 0), max(mem, 0)


def cluster_nodes(cluster: K3sClusterSpec | None, hosts: HostsSpec | None) -> tuple[list[Node], list[str]]:
    """Every node of the cluster (or the reference AX41 without one), and warnings about unknown ones."""
    r = cluster.reservations if cluster is not None else NodeReservationsSpec()
    raw: list[tuple[str, int, int]] = []
    warnings: list[str] = []
    if cluster is None or hosts is None:
        raw.append((REFERENCE_NODE, hd.AX41_CPU * 1000, memory_bytes(hd.AX41_MEMORY)))
    else:
        for key in cluster.nodes:
            if key in hosts.dedicated:
                d = hosts.dedicated[key]
                raw.append((key, d.cpu * 1000, memory_bytes(d.memory)))
            elif key in hosts.cloud:
                known = hd.CLOUD_SERVER_CAPACITY.get(hosts.cloud[key].server_type)
                if known is None:
                    warnings.append(f"capacity of hosts.cloud.{key} (serverType {hosts.cloud[key].server_type}) is "
                                    "unknown; its node is left out of the quota checks")
                    continue
                raw.append((key, known[0] * 1000, memory_bytes(known[1])))
    nodes = [Node(n, c, m, *allocatable(c, m, r)) for n, c, m in raw]
    return nodes, warnings


def capacity_report(
    tenants: Mapping[str, ProjectSpec], cluster: K3sClusterSpec | None = None, hosts: HostsSpec | None = None
) -> CapacityReport:
    """Check every tenant quota and container against the nodes (see the module docstring)."""
    nodes, warnings = cluster_nodes(cluster, hosts)
    r = cluster.reservations if cluster is not None else NodeReservationsSpec()
    errors: list[tuple[Loc, str]] = []
    if not nodes:
        return CapacityReport((), 0, 0, 0, 0, 0, 0, 0, 0, 0, (), tuple(warnings))
    budget_cpu = max(sum(n.allocatable_cpu_m for n in nodes) - cpu_millis(r.platform_pods_cpu), 0)
    budget_mem = max(sum(n.allocatable_memory for n in nodes) - memory_bytes(r.platform_pods_memory), 0)
    budget_pods = MAX_PODS_PER_NODE * len(nodes) - PLATFORM_PODS
    biggest = max(nodes, key=lambda n: (n.allocatable_memory, n.allocatable_cpu_m))
    node_cpu = max(n.allocatable_cpu_m for n in nodes)
    node_mem = max(n.allocatable_memory for n in nodes)

    prod_cpu = prod_mem = prod_mem_limit = prod_pods = all_cpu = all_mem = 0
    prod_parts: list[str] = []
    first_prod: Loc | None = None
    for project in sorted(tenants):
        spec = tenants[project]
        for env_name in sorted(spec.environments):
            q = spec.environments[env_name].quota
            all_cpu += cpu_millis(q.cpu)
            all_mem += memory_bytes(q.memory)
            if env_name == "prod":
                prod_cpu += cpu_millis(q.cpu)
                prod_mem += memory_bytes(q.memory)
                prod_mem_limit += memory_bytes(q.memory_limit)
                prod_pods += q.pods
                prod_parts.append(f"{project}: {fmt_cpu(cpu_millis(q.cpu))}, {q.memory} ({q.memory_limit} limits), "
                                  f"{q.pods} pods")
                first_prod = first_prod or ("tenants", project, "environments", "prod", "quota")
            for svc_name, svc in sorted(spec.services_in(env_name).items()):
                res = svc.resources
                for key, value, limit in (("cpu", cpu_millis(res.cpu), node_cpu),
                                          ("cpuLimit", cpu_millis(res.cpu_limit), node_cpu)):
                    if value > limit:
                        errors.append((("tenants", project, "services", svc_name, "resources", key),
                                       f"{fmt_cpu(value)} is more than a node offers pods ({fmt_cpu(limit)} "
                                       f"allocatable on {biggest.name}); no node could run it"))
                for key, value, limit in (("memory", memory_bytes(res.memory), node_mem),
                                          ("memoryLimit", memory_bytes(res.effective_memory_limit), node_mem)):
                    if value > limit:
                        errors.append((("tenants", project, "services", svc_name, "resources", key),
                                       f"{fmt_mem(value)} is more than a node offers pods ({fmt_mem(limit)} "
                                       f"allocatable on {biggest.name}); no node could run it"))
    where = ", ".join(n.name for n in nodes)
    budget = (f"the tenants' share of {where} is {fmt_cpu(budget_cpu)}, {fmt_mem(budget_mem)} and {budget_pods} pods "
              f"(allocatable after system-reserved, kube-reserved and eviction, minus the platform's own pods)")
    if first_prod is not None:
        over = []
        if prod_cpu > budget_cpu:
            over.append(f"{fmt_cpu(prod_cpu)} of CPU requests")
        if prod_mem > budget_mem:
            over.append(f"{fmt_mem(prod_mem)} of memory requests")
        if prod_mem_limit > budget_mem:
            over.append(f"{fmt_mem(prod_mem_limit)} of memory limits")
        if prod_pods > budget_pods:
            over.append(f"{prod_pods} pods")
        if over:
            errors.append((first_prod, f"production quotas ask for {' and '.join(over)} in total "
                                       f"({'; '.join(prod_parts)}), but {budget}: lower the prod quotas or add a node"))
    if all_cpu > budget_cpu or all_mem > budget_mem:
        warnings.append(f"every environment's quotas together request {fmt_cpu(all_cpu)} and {fmt_mem(all_mem)}; "
                        f"{budget}: dev, stage and preview environments are oversubscribed and compete with "
                        "production for the node (production quotas fit)" if first_prod is not None and not errors
                        else f"every environment's quotas together request {fmt_cpu(all_cpu)} and {fmt_mem(all_mem)}"
                        f"; {budget}: the environments are oversubscribed")
    return CapacityReport(
        nodes=tuple(nodes), budget_cpu_m=budget_cpu, budget_memory=budget_mem, budget_pods=budget_pods,
        prod_cpu_m=prod_cpu, prod_memory=prod_mem, prod_memory_limit=prod_mem_limit, prod_pods=prod_pods,
        all_cpu_m=all_cpu, all_memory=all_mem, errors=tuple(errors), warnings=tuple(warnings),
    )

