"""What a stack pays for, read from the resources it declares (``inventory_from_records``).

``inventory_from_spec`` gives the same inventory before anything is declared, for budget caps: it renders the
tenants' workload manifests with the same pure renderers ``TenantService`` declares them with
(``enclii_iac.render.kube``) and reads them with the same functions, so both paths agree (tested on every
example stack and on the fixture matrix).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from enclii_iac.models._base import cpu_millis, memory_bytes
from enclii_iac.models.platform import PlatformSpec
from enclii_iac.testing import ResourceRecord, reveal

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Workload:
    """Requests of one workload (every replica together) in one environment."""

    project: str
    environment: str
    name: str
    kind: str
    cpu_m: int = 0
    memory: int = 0
    storage: int = 0


@dataclass(frozen=True)
class EnvQuota:
    """The ResourceQuota of one environment: the most it may request."""

    project: str
    environment: str
    cpu_m: int
    memory: int
    storage: int


@dataclass(frozen=True)
class CloudServer:
    name: str
    server_type: str
    backups: bool


@dataclass(frozen=True)
class LifecycleRule:
    prefix: str
    expire_days: int | None
    infrequent_after_days: int | None


@dataclass(frozen=True)
class Bucket:
    name: str
    storage_class: str
    rules: tuple[LifecycleRule, ...] = ()


@dataclass(frozen=True)
class Hostname:
    hostname: str
    project: str
    environment: str


@dataclass(frozen=True)
class Inventory:
    """Everything priced: servers, addresses, volumes, buckets, hostnames, tunnels and the tenants' requests."""

    dedicated: tuple[str, ...] = ()
    cloud: tuple[CloudServer, ...] = ()
    primary_ipv4: int = 0
    volumes_gb: tuple[tuple[str, int], ...] = ()
    buckets: tuple[Bucket, ...] = ()
    hostnames: tuple[Hostname, ...] = ()
    tunnels: int = 0
    workloads: tuple[Workload, ...] = ()
    quotas: tuple[EnvQuota, ...] = ()
    notes: tuple[str, ...] = field(default=())


# --- reading manifests (shared by both paths) ----------------------------------------------------------------


def _labels(manifest: Mapping[str, Any]) -> tuple[str, str]:
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    return str(labels.get("enclii.dev/project", "")), str(labels.get("enclii.dev/environment", ""))


def pod_requests(pod_spec: Mapping[str, Any]) -> tuple[int, int]:
    """``(cpu millicores, memory bytes)`` one pod requests: its containers summed, or its largest init container
    when that is larger (the scheduler's rule)."""
    def total(containers: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        cpu = mem = 0
        for c in containers:
            req = (c.get("resources") or {}).get("requests") or {}
            cpu += cpu_millis(str(req["cpu"])) if "cpu" in req else 0
            mem += memory_bytes(str(req["memory"])) if "memory" in req else 0
        return cpu, mem

    cpu, mem = total(pod_spec.get("containers") or [])
    for init in pod_spec.get("initContainers") or []:
        icpu, imem = total([init])
        cpu, mem = max(cpu, icpu), max(mem, imem)
    return cpu, mem


def workload_of(manifest: Mapping[str, Any]) -> Workload | None:
    """The steady-state requests a Deployment or PersistentVolumeClaim manifest adds; None for other kinds.

    CronJobs and Jobs run now and then: their pods are left out of the request-based figure (their duty cycle is
    unknown) and stay inside the quota-based one."""
    kind = manifest.get("kind")
    project, environment = _labels(manifest)
    name = str((manifest.get("metadata") or {}).get("name", ""))
    spec = manifest.get("spec") or {}
    if kind == "Deployment":
        replicas = int(spec.get("replicas", 1))
        cpu, mem = pod_requests(((spec.get("template") or {}).get("spec")) or {})
        return Workload(project, environment, name, "Deployment", cpu * replicas, mem * replicas)
    if kind == "PersistentVolumeClaim":
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
        return Workload(project, environment, name, "PersistentVolumeClaim", storage=memory_bytes(str(size)))
    return None


def quota_of(manifest: Mapping[str, Any]) -> EnvQuota | None:
    if manifest.get("kind") != "ResourceQuota":
        return None
    project, environment = _labels(manifest)
    hard = (manifest.get("spec") or {}).get("hard") or {}
    return EnvQuota(
        project,
        environment,
        cpu_millis(str(hard.get("requests.cpu", "0"))),
        memory_bytes(str(hard.get("requests.memory", "0"))),
        memory_bytes(str(hard.get("requests.storage", "0"))),
    )


def _rule(rule: Mapping[str, Any]) -> LifecycleRule:
    def days(key: str) -> int | None:
        cond = (rule.get(key) or {}).get("condition") or {}
        age = cond.get("maxAge")
        return int(age) // SECONDS_PER_DAY if age is not None else None

    ia_days = None
    for transition in rule.get("storageClassTransitions") or []:
        age = (transition.get("condition") or {}).get("maxAge")
        if age is not None:
            ia_days = int(age) // SECONDS_PER_DAY
    prefix = str((rule.get("conditions") or {}).get("prefix", ""))
    return LifecycleRule(prefix, days("deleteObjectsTransition"), ia_days)


def sorted_rules(rules: Iterable[LifecycleRule]) -> tuple[LifecycleRule, ...]:
    return tuple(sorted(rules, key=lambda r: (r.prefix, r.expire_days or 0, r.infrequent_after_days or 0)))


def _owners(spec: PlatformSpec) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Project identity (label value) -> project name; custom hostname -> (project, environment)."""
    from enclii_iac.render.edge import tenant_edge

    names = {p.identity(name): name for name, p in spec.tenants.items()}
    hosts = {d.hostname: (d.project, d.environment) for d in tenant_edge(spec.tenants).domains}
    return names, hosts


def _named(items: Iterable[Workload], names: Mapping[str, str]) -> tuple[Workload, ...]:
    out = [Workload(names.get(w.project, w.project), w.environment, w.name, w.kind, w.cpu_m, w.memory, w.storage)
           for w in items]
    return tuple(sorted(out, key=lambda w: (w.project, w.environment, w.kind, w.name)))


def _named_quotas(items: Iterable[EnvQuota], names: Mapping[str, str]) -> tuple[EnvQuota, ...]:
    out = [EnvQuota(names.get(q.project, q.project), q.environment, q.cpu_m, q.memory, q.storage) for q in items]
    return tuple(sorted(out, key=lambda q: (q.project, q.environment)))


# --- from the declared resources ------------------------------------------------------------------------------

DEDICATED_HOST = "enclii:index:DedicatedHost"
SERVER = "hcloud:index/server:Server"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
VOLUME = "hcloud:index/volume:Volume"
BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
CUSTOM_HOSTNAME = "cloudflare:index/customHostname:CustomHostname"
TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"


def inventory_from_records(records: Iterable[ResourceRecord], spec: PlatformSpec) -> Inventory:
    """The priced inventory of a synthesized stack (``enclii_iac.synth.run_stack(...).records``).

    The spec supplies only what no resource records: the project a custom hostname belongs to and the current
    name of a renamed project."""
    names, host_owner = _owners(spec)
    dedicated: list[str] = []
    cloud: list[CloudServer] = []
    ipv4 = 0
    volumes: list[tuple[str, int]] = []
    buckets: dict[str, tuple[str, list[LifecycleRule]]] = {}
    rules: dict[str, list[LifecycleRule]] = {}
    hostnames: list[Hostname] = []
    tunnels = 0
    workloads: list[Workload] = []
    quotas: list[EnvQuota] = []
    for r in records:
        if r.read:
            continue
        inputs = reveal(r.inputs)
        if r.type == DEDICATED_HOST:
            dedicated.append(r.name)
        elif r.type == SERVER:
            cloud.append(CloudServer(r.name, str(inputs.get("serverType")), bool(inputs.get("backups"))))
        elif r.type == PRIMARY_IP and inputs.get("type") == "ipv4":
            ipv4 += 1
        elif r.type == VOLUME:
            volumes.append((r.name, int(inputs.get("size", 0))))
        elif r.type == BUCKET:
            buckets[str(inputs.get("name"))] = (str(inputs.get("storageClass") or "Standard"), [])
        elif r.type == LIFECYCLE:
            rules.setdefault(str(inputs.get("bucketName")), []).extend(
                _rule(x) for x in inputs.get("rules") or [] if x.get("enabled", True))
        elif r.type == CUSTOM_HOSTNAME:
            host = str(inputs.get("hostname"))
            project, environment = host_owner.get(host, ("", ""))
            hostnames.append(Hostname(host, project, environment))
        elif r.type == TUNNEL:
            tunnels += 1
        elif r.custom and r.type.startswith("kubernetes:") and "kind" in inputs:
            w = workload_of(inputs)
            if w is not None and w.project:  # the platform's own pods are inside its reservation
                workloads.append(w)
            q = quota_of(inputs)
            if q is not None:
                quotas.append(q)
    return Inventory(
        dedicated=tuple(sorted(dedicated)),
        cloud=tuple(sorted(cloud, key=lambda s: s.name)),
        primary_ipv4=ipv4,
        volumes_gb=tuple(sorted(volumes)),
        buckets=tuple(Bucket(n, c, sorted_rules(rules.get(n, []))) for n, (c, _) in sorted(buckets.items())),
        hostnames=tuple(sorted(hostnames, key=lambda h: h.hostname)),
        tunnels=tunnels,
        workloads=_named(workloads, names),
        quotas=_named_quotas(quotas, names),
    )


# --- from the spec, before anything is declared ----------------------------------------------------------------


def _tenant_manifests(spec: PlatformSpec) -> Iterable[dict[str, Any]]:
    """The quota, workload and claim manifests ``TenantProject`` declares, rendered by the same functions."""
    from enclii_iac.models.service import ServiceType
    from enclii_iac.render import kube as m

    for project, pspec in spec.tenants.items():
        ident = pspec.identity(project)
        for env_name, env in pspec.environments.items():
            yield m.resource_quota(ident, env_name, env)
            for svc_name, svc in pspec.services_in(env_name).items():
                ref = m.Ref(ident, env_name, pspec.service_identity(svc_name))
                has_secret = bool(svc.secrets)
                for vol in svc.volumes:
                    yield m.pvc(ref, svc, vol.name)
                if svc.type in (ServiceType.CRON, ServiceType.JOB):
                    continue
                strategy = svc.deploy.strategy
                tracks: list[tuple[str, str, int]]
                if strategy == "canary" and svc.deploy.canary is not None:
                    canary = svc.deploy.canary
                    tracks = [("stable", svc.image, svc.replicas.min), ("canary", canary.image, canary.replicas)]
                elif strategy == "blue-green" and svc.deploy.blue_green is not None:
                    bg = svc.deploy.blue_green
                    tracks = [("blue", bg.blue_image, svc.replicas.min), ("green", bg.green_image, svc.replicas.min)]
                else:
                    tracks = [("", svc.image, svc.replicas.min)]
                for suffix, image, replicas in tracks:
                    name = ref.name(suffix) if suffix else ref.name()
                    yield m.deployment(ref, svc, name=name, image=image, replicas=replicas, has_secret=has_secret)


def inventory_from_spec(spec: PlatformSpec) -> Inventory:
    """The inventory ``spec`` would declare (see the module docstring); pure, nothing is declared."""
    from enclii_iac.render.edge import tenant_edge

    names, _ = _owners(spec)
    hosts = spec.hosts
    dedicated = tuple(sorted(f"{spec.name}-hosts-{k}" for k in (hosts.dedicated if hosts else {})))
    cloud = tuple(sorted((CloudServer(f"{spec.name}-hosts-{k}", s.server_type, s.backups)
                          for k, s in (hosts.cloud if hosts else {}).items()), key=lambda s: s.name))
    volumes = tuple(sorted((f"{spec.name}-hosts-{k}-{v}", vol.size_gb)
                           for k, s in (hosts.cloud if hosts else {}).items() for v, vol in s.volumes.items()))
    buckets: list[Bucket] = []
    hostnames: list[Hostname] = []
    tunnels = 0
    if spec.edge is not None:
        tunnels = 1
        r2 = spec.edge.r2
        for b in (r2.buckets.values() if r2 is not None else []):
            rules = sorted_rules(LifecycleRule(rule.prefix, rule.expire_after_days, rule.infrequent_access_after_days)
                                 for rule in b.lifecycle.values())
            buckets.append(Bucket(b.name, b.storage_class, rules))
        if spec.edge.custom_domains.enabled:
            hostnames = [Hostname(d.hostname, d.project, d.environment) for d in tenant_edge(spec.tenants).domains]
    workloads: list[Workload] = []
    quotas: list[EnvQuota] = []
    for manifest in _tenant_manifests(spec):
        w = workload_of(manifest)
        if w is not None:
            workloads.append(w)
        q = quota_of(manifest)
        if q is not None:
            quotas.append(q)
    return Inventory(
        dedicated=dedicated,
        cloud=cloud,
        primary_ipv4=len(cloud),
        volumes_gb=volumes,
        buckets=tuple(sorted(buckets, key=lambda b: b.name)),
        hostnames=tuple(sorted(hostnames, key=lambda h: h.hostname)),
        tunnels=tunnels,
        workloads=_named(workloads, names),
        quotas=_named_quotas(quotas, names),
    )
