"""Kubernetes objects for tenants, built as plain data (camelCase manifests), never as text.

Pure functions: specs in, manifests out. Components hand these dicts to typed pulumi-kubernetes
resources, so what ``enclii-iac synth`` writes is exactly what ``pulumi up`` would apply.
Secret *values* never pass through here: Secrets are built in the component from Pulumi Outputs.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from enclii_iac import defaults
from enclii_iac.defaults import CRON_JOB_TTL
from enclii_iac.models._base import duration_seconds
from enclii_iac.models.service import ServiceSpec, ServiceType
from enclii_iac.models.tenant import EnvironmentSpec, Member, ProjectSpec, stage_of
from enclii_iac.naming import dns_label, label_key, namespace_name

Manifest = dict[str, Any]

PSA_VERSION = "v1.33"
"""Pod Security Standards version the namespaces enforce (matches the pinned Kubernetes minor)."""

HTTP_PORT_NAME = "http"
SERVICE_PORT = 80


@dataclass(frozen=True)
class Ref:
    """Where one service of one environment lives."""

    project: str
    environment: str
    service: str

    @property
    def namespace(self) -> str:
        return namespace_name(self.project, self.environment)

    @property
    def stage(self) -> str:
        return stage_of(self.environment)

    def name(self, *suffix: str) -> str:
        return dns_label(self.service, *suffix)


def env_labels(project: str, environment: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": defaults.MANAGED_BY,
        "app.kubernetes.io/part-of": project,
        label_key("project"): project,
        label_key("environment"): environment,
        label_key("stage"): stage_of(environment),
    }


def service_labels(ref: Ref) -> dict[str, str]:
    return {
        **env_labels(ref.project, ref.environment),
        "app.kubernetes.io/name": ref.service,
        label_key("service"): ref.service,
    }


def resource_args(manifest: Manifest) -> dict[str, Any]:
    """Keyword arguments of a typed pulumi-kubernetes resource (``k8s.apps.v1.Deployment(name, **args)``) from
    a manifest: its top-level fields, camelCase kept inside them, the two camelCase top-level keys renamed."""
    out: dict[str, Any] = {"metadata": manifest["metadata"]}
    for key in ("spec", "rules", "subjects", "data"):
        if key in manifest:
            out[key] = manifest[key]
    if "roleRef" in manifest:
        out["role_ref"] = manifest["roleRef"]
    if "automountServiceAccountToken" in manifest:
        out["automount_service_account_token"] = manifest["automountServiceAccountToken"]
    return out


def restricted_security_context(uid: int = defaults.RUN_AS_USER, gid: int = defaults.RUN_AS_GROUP) -> Manifest:
    """A container's securityContext under Pod Security ``restricted``, hardened further: a non-root uid/gid,
    a read-only root filesystem, no privilege escalation, no capabilities, the runtime's seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def selector(ref: Ref) -> dict[str, str]:
    """Pod selector of a service: stable across versions (never includes the image or a hash)."""
    return {label_key("project"): ref.project, label_key("service"): ref.service}


def meta(
    name: str, namespace: str | None, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> Manifest:
    out: Manifest = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        out["namespace"] = namespace
    if annotations:
        out["annotations"] = dict(annotations)
    return out


# --- environment (namespace) objects -------------------------------------------------------------------


def psa_labels(level: str = "restricted") -> dict[str, str]:
    """Namespace labels enforcing, auditing and warning on a Pod Security Standards level."""
    out = {}
    for mode in ("enforce", "audit", "warn"):
        out[f"pod-security.kubernetes.io/{mode}"] = level
        out[f"pod-security.kubernetes.io/{mode}-version"] = PSA_VERSION
    return out


ALLOWED_HOSTS_ANNOTATION = label_key("allowed-hosts")
"""Namespace annotation: the hostnames (comma-separated) the namespace's Ingresses and IngressRoutes may claim.
Only the platform writes Namespaces; the admission policies read it through ``namespaceObject``."""
ALLOWED_REGISTRIES_ANNOTATION = label_key("allowed-registries")
"""Namespace annotation: image prefixes (comma-separated, each ending in ``/``) the namespace's pods may use;
absent when every registry is allowed."""


def namespace(
    project: str,
    environment: str,
    *,
    hosts: list[str] | None = None,
    registries: list[str] | None = None,
    ttl_hours: int | None = None,
    expires_at: str | None = None,
) -> Manifest:
    """The environment's namespace: Pod Security restricted, and what the admission policies allow it.

    A preview's ``ttl_hours`` and ``expires_at`` (``2026-12-04T17:00:00Z``) become the labels
    ``enclii.dev/ttl-hours`` and ``enclii.dev/expires-at`` (Unix seconds: label values take no colon) and the
    annotation ``enclii.dev/expires-at`` (the UTC time as written)."""
    labels = {**env_labels(project, environment), **psa_labels()}
    annotations = {ALLOWED_HOSTS_ANNOTATION: ",".join(sorted(set(hosts or [])))}
    if ttl_hours is not None:
        labels[label_key("ttl-hours")] = str(ttl_hours)
    if expires_at is not None:
        when = datetime.datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        labels[label_key("expires-at")] = str(int(when.timestamp()))
        annotations[label_key("expires-at")] = expires_at
    if registries:
        annotations[ALLOWED_REGISTRIES_ANNOTATION] = ",".join(registries)
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta(namespace_name(project, environment), None, labels, annotations),
    }


def resource_quota(project: str, environment: str, env: EnvironmentSpec) -> Manifest:
    q = env.quota
    metadata = meta("quota", namespace_name(project, environment), env_labels(project, environment))
    # Pulumi waits until the quota controller has counted the namespace: a pod created before that is
    # refused ("status unknown for quota") and its ReplicaSet backs off, so workloads wait for the quota
    metadata["annotations"] = {**metadata.get("annotations", {}), "pulumi.com/waitFor": "jsonpath={.status.hard}"}
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata,
        "spec": {
            "hard": {
                "requests.cpu": q.cpu,
                "requests.memory": q.memory,
                "limits.cpu": q.cpu_limit,
                "limits.memory": q.memory_limit,
                "pods": str(q.pods),
                "requests.storage": q.storage,
                "persistentvolumeclaims": str(q.pvcs),
                "services.nodeports": "0",
                "services.loadbalancers": "0",
            }
        },
    }


def limit_range(project: str, environment: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta("limits", namespace_name(project, environment), env_labels(project, environment)),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": defaults.CONTAINER_CPU_LIMIT, "memory": defaults.CONTAINER_MEMORY_LIMIT},
                    "defaultRequest": {
                        "cpu": defaults.CONTAINER_CPU_REQUEST,
                        "memory": defaults.CONTAINER_MEMORY_REQUEST,
                    },
                    "max": {"cpu": defaults.CONTAINER_CPU_MAX, "memory": defaults.CONTAINER_MEMORY_MAX},
                }
            ]
        },
    }


def _policy(project: str, environment: str, name: str, spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, namespace_name(project, environment), env_labels(project, environment)),
        "spec": spec,
    }


def network_policies(project: str, environment: str, *, isolate_services: bool = False) -> list[Manifest]:
    """Default-deny for the environment, then the allowances every environment needs.

    - ``default-deny``: no ingress, no egress for any pod.
    - ``allow-dns``: egress to CoreDNS in kube-system on 53/UDP and 53/TCP.
    - ``allow-environment``: pods of the environment reach each other (unless services are isolated, when
      only declared dependencies are allowed, by per-service policies).

    What reaches a routed service from outside is its own policy (:func:`edge_policy`).
    """
    policies = [
        _policy(project, environment, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            project,
            environment,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
    ]
    if not isolate_services:
        policies.append(
            _policy(
                project,
                environment,
                "allow-environment",
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"podSelector": {}}]}],
                    "egress": [{"to": [{"podSelector": {}}]}],
                },
            )
        )
    return policies


def edge_policy(ref: Ref, port: int, *, ingress_namespace: str, ingress_pod_labels: dict[str, str]) -> Manifest:
    """Ingress to one routed service's pods, on its own port, from the ingress controller's pods only.

    Not from the tunnel namespace (cloudflared sends tenant hostnames to the ingress controller, never to a
    pod), not from the rest of kube-system, and not to any other port the pods may listen on."""
    return _policy(
        ref.project,
        ref.environment,
        dns_label(ref.service, "from", "edge"),
        {
            "podSelector": {"matchLabels": selector(ref)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}
                            },
                            "podSelector": {"matchLabels": dict(sorted(ingress_pod_labels.items()))},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
        },
    )


def platform_egress_policy(
    project: str, environment: str, key: str, *, namespace: str, pod_labels: Mapping[str, str], ports: Sequence[int]
) -> Manifest:
    """Egress from every pod of the environment to some platform pods (the OpenTelemetry collector, a data
    service), on their TCP ports only."""
    return _policy(
        project,
        environment,
        dns_label("allow", key),
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                            "podSelector": {"matchLabels": dict(sorted(pod_labels.items()))},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": p} for p in ports],
                }
            ],
        },
    )


def scrape_policy(ref: Ref, port: int, *, namespace: str, pod_labels: Mapping[str, str]) -> Manifest:
    """Ingress to one service's metrics port from the platform's Prometheus only."""
    return _policy(
        ref.project,
        ref.environment,
        dns_label(ref.service, "from", "monitoring"),
        {
            "podSelector": {"matchLabels": selector(ref)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                            "podSelector": {"matchLabels": dict(sorted(pod_labels.items()))},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
        },
    )


def dependency_policy(ref: Ref, dependency: str, port: int) -> Manifest:
    """Allow ``ref`` to call ``dependency`` on ``port`` (egress from one, ingress to the other)."""
    dep = Ref(ref.project, ref.environment, dependency)
    return _policy(
        ref.project,
        ref.environment,
        dns_label(ref.service, "to", dependency),
        {
            "podSelector": {"matchLabels": selector(ref)},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"podSelector": {"matchLabels": selector(dep)}}], "ports": [{"protocol": "TCP", "port": port}]}
            ],
        },
    )


def dependency_ingress_policy(ref: Ref, callers: list[str], port: int) -> Manifest:
    return _policy(
        ref.project,
        ref.environment,
        dns_label(ref.service, "from", "deps"),
        {
            "podSelector": {"matchLabels": selector(ref)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchLabels": selector(Ref(ref.project, ref.environment, c))}}
                        for c in sorted(callers)
                    ],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
        },
    )


_READ = ["get", "list", "watch"]
_WRITE = [*_READ, "create", "update", "patch", "delete"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> Manifest:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


_READABLE: dict[str, list[str]] = {
    "": ["pods", "pods/log", "services", "endpoints", "configmaps", "persistentvolumeclaims", "events",
         "resourcequotas", "limitranges"],
    "apps": ["deployments", "replicasets", "statefulsets"],
    "batch": ["jobs", "cronjobs"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
    "networking.k8s.io": ["ingresses", "networkpolicies"],
}
"""What every tenant role reads, per API group (rules are exact per group: RBAC lets an owner bind a role only
when the owner holds every group/resource pair of it, so no role names a pair that does not exist)."""
_WRITABLE: dict[str, list[str]] = {
    "": ["pods", "pods/portforward", "services", "configmaps", "persistentvolumeclaims", "secrets"],
    "apps": ["deployments", "deployments/scale", "replicasets", "statefulsets"],
    "batch": ["jobs", "cronjobs"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
    "networking.k8s.io": ["ingresses"],
}
"""What admins and owners manage. Never written by a tenant: Endpoints and EndpointSlices (Kubernetes' own, from
Service selectors: a hand-written one could point a route at another namespace's pods or at the node), quotas,
limits, network policies, Roles, service accounts and the namespace."""

_READ_ALL_BUT_SECRETS = [_rule([group], resources, _READ) for group, resources in _READABLE.items()]
_MANAGE_WORKLOADS = [_rule([group], resources, _WRITE) for group, resources in _WRITABLE.items()]
_RESTART_AND_SCALE = [
    _rule(["apps"], ["deployments/scale"], ["get", "patch", "update"]),
    _rule([""], ["pods"], ["delete"]),
]
_CHANGE_WORKLOADS = [
    _rule(["apps"], ["deployments"], ["patch", "update"]),
    _rule(["batch"], ["jobs"], ["create", "delete"]),
    _rule([""], ["pods/portforward"], ["create"]),
]

PROTECTED_STAGES = frozenset({"prod"})
"""Stages where a developer cannot change what runs: whoever can patch a Deployment or create a Job can mount
the namespace's Secrets and print them, so there a developer only restarts (deletes pods) and scales."""


def role_rules(role_name: str, stage: str) -> list[Manifest]:
    """Namespaced permissions of a tenant role in an environment of ``stage``.

    - viewer: reads everything but Secrets;
    - developer: as viewer, plus scaling Deployments and deleting pods (restarts); outside production also
      patching Deployments, running Jobs and port-forwarding, which lets them read that environment's Secrets
      through a workload (the boundary is the environment, not the Secret);
    - admin: as viewer, plus managing workloads, Services, Ingresses and Secrets;
    - owner: as admin, plus RoleBindings to the environment's own Roles.

    None may edit quotas, limits, network policies, Endpoints, Roles, service accounts or the namespace."""
    if role_name == "viewer":
        return list(_READ_ALL_BUT_SECRETS)
    if role_name == "developer":
        return [*_READ_ALL_BUT_SECRETS, *_RESTART_AND_SCALE] + ([] if stage in PROTECTED_STAGES else _CHANGE_WORKLOADS)
    if role_name == "admin":
        return [*_READ_ALL_BUT_SECRETS, *_MANAGE_WORKLOADS]
    if role_name == "owner":
        return [
            *_READ_ALL_BUT_SECRETS,
            *_MANAGE_WORKLOADS,
            _rule(["rbac.authorization.k8s.io"], ["rolebindings"], _WRITE),
            _rule(["rbac.authorization.k8s.io"], ["roles"], _READ),
        ]
    raise ValueError(f"unknown role {role_name!r}")


ROLES = ("owner", "admin", "developer", "viewer")


def role(project: str, environment: str, role_name: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": meta(
            dns_label("enclii", role_name), namespace_name(project, environment), env_labels(project, environment)
        ),
        "rules": role_rules(role_name, stage_of(environment)),
    }


def role_binding(project: str, environment: str, role_name: str, members: list[Member], *,
                 user_prefix: str = "", group_prefix: str = "") -> Manifest:
    """The RoleBinding of one role to its members. ``user_prefix``/``group_prefix``: what the API server's
    OIDC authenticator prepends to user and group names (``identity.oidc``), so a member ``Group shop-devs``
    binds the identity provider's group as the API server sees it (``oidc:shop-devs``)."""
    prefix = {"User": user_prefix, "Group": group_prefix}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta(
            dns_label("enclii", role_name), namespace_name(project, environment), env_labels(project, environment)
        ),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": dns_label("enclii", role_name)},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": m.kind, "name": prefix[m.kind] + m.name}
            for m in sorted(members, key=lambda m: (m.kind, m.name))
        ],
    }


# --- service objects ----------------------------------------------------------------------------------


def service_account(ref: Ref) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "automountServiceAccountToken": False,
    }


def secret_name(ref: Ref) -> str:
    return ref.name("env")


def _probe_action(svc: ServiceSpec) -> Manifest | None:
    port = svc.listen_port
    if svc.health.path is not None and port is not None:
        return {"httpGet": {"path": svc.health.path, "port": HTTP_PORT_NAME}}
    if svc.health.command is not None:
        return {"exec": {"command": list(svc.health.command)}}
    if port is not None:
        return {"tcpSocket": {"port": HTTP_PORT_NAME}}
    return None


def _liveness_action(svc: ServiceSpec) -> Manifest | None:
    """The lighter check: is the process up and listening (TCP, or GET ``livenessPath``)? Only a worker
    without a port reuses its exec check, the one signal it has."""
    if svc.listen_port is not None:
        if svc.health.liveness_path is not None:
            return {"httpGet": {"path": svc.health.liveness_path, "port": HTTP_PORT_NAME}}
        return {"tcpSocket": {"port": HTTP_PORT_NAME}}
    return _probe_action(svc)


def probes(svc: ServiceSpec) -> Manifest:
    """Readiness, liveness and startup probes (none for services with neither a port nor a command).

    Readiness is the real check; liveness is lighter and gives up after twice as many misses, so a failing
    dependency takes replicas out of rotation instead of restarting every one at once."""
    action = _probe_action(svc)
    live = _liveness_action(svc)
    if action is None or live is None or not svc.is_long_running:
        return {}
    h = svc.health
    period = int(duration_seconds(h.period))
    timeout = int(duration_seconds(h.timeout))
    base = {**action, "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": h.failure_threshold}
    startup_failures = max(1, int(duration_seconds(h.startup_timeout)) // period)
    return {
        "readinessProbe": {**base, "initialDelaySeconds": int(duration_seconds(h.initial_delay))},
        "livenessProbe": {
            **live,
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "failureThreshold": 2 * h.failure_threshold,
            "initialDelaySeconds": int(duration_seconds(h.initial_delay)),
        },
        "startupProbe": {
            **action,
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "failureThreshold": startup_failures,
        },
    }


def container(ref: Ref, svc: ServiceSpec, image: str, has_secret: bool) -> Manifest:
    r = svc.resources
    env: list[Manifest] = [{"name": k, "value": v} for k, v in sorted(svc.env.items())]
    env += [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name(ref), "key": name}}}
        for name in (svc.secrets if has_secret else [])
    ]
    out: Manifest = {
        "name": ref.service,
        "image": image,
        "imagePullPolicy": defaults.IMAGE_PULL_POLICY,
        "resources": {
            "requests": {"cpu": r.cpu, "memory": r.memory, "ephemeral-storage": "64Mi"},
            "limits": {
                "cpu": r.cpu_limit,
                "memory": r.effective_memory_limit,
                "ephemeral-storage": defaults.EPHEMERAL_STORAGE_LIMIT,
            },
        },
        "securityContext": restricted_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
        + [{"name": v.name, "mountPath": v.mount_path} for v in svc.volumes],
    }
    if svc.command:
        out["command"] = list(svc.command)
    if svc.args:
        out["args"] = list(svc.args)
    if env:
        out["env"] = env
    port = svc.listen_port
    if port is not None:
        out["ports"] = [{"name": HTTP_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    out.update(probes(svc))
    return out


def pod_spec(ref: Ref, svc: ServiceSpec, image: str, has_secret: bool, restart: str = "Always") -> Manifest:
    spec: Manifest = {
        "serviceAccountName": ref.name(),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": defaults.TERMINATION_GRACE_S,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": defaults.RUN_AS_USER,
            "runAsGroup": defaults.RUN_AS_GROUP,
            "fsGroup": defaults.RUN_AS_GROUP,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(ref, svc, image, has_secret)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": defaults.TMP_VOLUME_SIZE}}]
        + [{"name": v.name, "persistentVolumeClaim": {"claimName": ref.name(v.identity)}} for v in svc.volumes],
    }
    if svc.is_long_running and svc.replicas.upper > 1:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(ref)},
            }
        ]
    return spec


def pod_labels(ref: Ref, svc: ServiceSpec, extra: dict[str, str] | None = None) -> dict[str, str]:
    labels = {**service_labels(ref), **selector(ref)}
    if svc.routes:
        labels[label_key("routed")] = "true"
    return {**labels, **(extra or {})}


def deployment(
    ref: Ref,
    svc: ServiceSpec,
    *,
    name: str,
    image: str,
    replicas: int,
    has_secret: bool,
    extra_labels: dict[str, str] | None = None,
) -> Manifest:
    labels = pod_labels(ref, svc, extra_labels)
    sel = {**selector(ref), **(extra_labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, ref.namespace, labels),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": defaults.REVISION_HISTORY_LIMIT,
            "progressDeadlineSeconds": defaults.PROGRESS_DEADLINE_S,
            "selector": {"matchLabels": sel},
            "strategy": strategy(svc),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(ref, svc, image, has_secret)},
        },
    }


def strategy(svc: ServiceSpec) -> Manifest:
    """Rolling (one extra pod, none unavailable), except with volumes: a ReadWriteOnce claim cannot be used by
    the old and the new pod at once, so the old one stops first (Recreate)."""
    if svc.volumes:
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def service(
    ref: Ref, svc: ServiceSpec, *, name: str | None = None, extra_selector: dict[str, str] | None = None
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name or ref.name(), ref.namespace, service_labels(ref)),
        "spec": {
            "type": "ClusterIP",
            "selector": {**selector(ref), **(extra_selector or {})},
            "ports": [{"name": HTTP_PORT_NAME, "port": SERVICE_PORT, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"}],
        },
    }


def ingress(
    ref: Ref, svc: ServiceSpec, *, class_name: str, cluster_issuer: str | None, backend: str | None = None
) -> Manifest:
    annotations = {}
    if cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = cluster_issuer
    hosts = sorted({r.host for r in svc.routes} | set(svc.domains))
    rules: dict[str, list[Manifest]] = {}
    paths_by_host: dict[str, list[str]] = {}
    for r in svc.routes:
        paths_by_host.setdefault(r.host, []).append(r.path)
    for domain in svc.domains:
        paths_by_host.setdefault(domain, []).extend(sorted({r.path for r in svc.routes}))
    for host in hosts:
        rules[host] = [
            {
                "path": p,
                "pathType": "Prefix",
                "backend": {"service": {"name": backend or ref.name(), "port": {"name": HTTP_PORT_NAME}}},
            }
            for p in sorted(set(paths_by_host[host]), key=lambda p: (-len(p), p))
        ]
    spec: Manifest = {
        "ingressClassName": class_name,
        "rules": [{"host": h, "http": {"paths": rules[h]}} for h in hosts],
    }
    if cluster_issuer:
        spec["tls"] = [{"hosts": hosts, "secretName": ref.name("tls")}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref), annotations),
        "spec": spec,
    }


def pdb(ref: Ref, name: str | None = None, extra_selector: dict[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name or ref.name(), ref.namespace, service_labels(ref)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {**selector(ref), **(extra_selector or {})}},
            # a crash-looping pod never becomes healthy; it must not block draining the node
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def hpa(ref: Ref, svc: ServiceSpec, target: str) -> Manifest:
    assert svc.autoscale is not None
    metrics: list[Manifest] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": svc.autoscale.target_cpu},
            },
        }
    ]
    if svc.autoscale.target_memory is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "Utilization", "averageUtilization": svc.autoscale.target_memory},
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": max(1, svc.replicas.min),
            "maxReplicas": svc.replicas.upper,
            "metrics": metrics,
        },
    }


def scaled_object(ref: Ref, svc: ServiceSpec, target: str) -> Manifest:
    assert svc.autoscale is not None
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "spec": {
            "scaleTargetRef": {"name": target},
            "minReplicaCount": svc.replicas.min,
            "maxReplicaCount": svc.replicas.upper,
            "triggers": [{"type": t.type, "metadata": dict(sorted(t.metadata.items()))} for t in svc.autoscale.keda]
            + [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(svc.autoscale.target_cpu)}}],
        },
    }


def pvc(ref: Ref, svc: ServiceSpec, volume_name: str) -> Manifest:
    vol = next(v for v in svc.volumes if v.name == volume_name)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(ref.name(vol.identity), ref.namespace, service_labels(ref)),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": vol.storage_class,
            "resources": {"requests": {"storage": vol.size}},
        },
    }


def _job_spec(ref: Ref, svc: ServiceSpec, has_secret: bool) -> Manifest:
    """A Job's spec. Only the Jobs a CronJob creates expire (``ttlSecondsAfterFinished``): a one-off Job is a
    resource of the stack, and one deleted behind Pulumi's back would be created (run) again by a refresh."""
    labels = pod_labels(ref, svc)
    spec: Manifest = {"backoffLimit": svc.backoff_limit}
    if svc.type is ServiceType.CRON:
        spec["ttlSecondsAfterFinished"] = int(duration_seconds(svc.job_ttl or CRON_JOB_TTL))
    spec["activeDeadlineSeconds"] = 3600
    spec["template"] = {"metadata": {"labels": labels}, "spec": pod_spec(ref, svc, svc.image, has_secret, "Never")}
    return spec


def cron_job(ref: Ref, svc: ServiceSpec, has_secret: bool) -> Manifest:
    assert svc.schedule is not None
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "spec": {
            "schedule": svc.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": svc.concurrency,
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": pod_labels(ref, svc)}, "spec": _job_spec(ref, svc, has_secret)},
        },
    }


def job(ref: Ref, svc: ServiceSpec, has_secret: bool) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "spec": _job_spec(ref, svc, has_secret),
    }


def service_monitor(ref: Ref, svc: ServiceSpec) -> Manifest:
    assert svc.metrics is not None
    endpoint: Manifest = {"path": svc.metrics.path, "interval": svc.metrics.interval}
    if svc.metrics.port is None or svc.metrics.port == svc.listen_port:
        endpoint["port"] = HTTP_PORT_NAME
    else:
        endpoint["targetPort"] = svc.metrics.port
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "spec": {"selector": {"matchLabels": service_labels(ref)}, "endpoints": [endpoint]},
    }


# --- traffic strategies ---------------------------------------------------------------------------------


def traefik_weighted(ref: Ref, stable_weight: int, canary_weight: int) -> Manifest:
    """A TraefikService splitting traffic between the stable and canary Services by weight."""
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": meta(ref.name("split"), ref.namespace, service_labels(ref)),
        "spec": {
            "weighted": {
                "services": [
                    {"name": ref.name("stable"), "port": SERVICE_PORT, "weight": stable_weight},
                    {"name": ref.name("canary"), "port": SERVICE_PORT, "weight": canary_weight},
                ]
            }
        },
    }


def traefik_route(ref: Ref, svc: ServiceSpec) -> Manifest:
    """An IngressRoute sending every route (and custom domain) of the service to its weighted split."""
    routes = []
    hosts_paths = sorted(
        {(r.host, r.path) for r in svc.routes} | {(d, r.path) for d in svc.domains for r in svc.routes},
        key=lambda hp: (hp[0], -len(hp[1]), hp[1]),
    )
    for host, path in hosts_paths:
        match = f"Host(`{host}`)" if path == "/" else f"Host(`{host}`) && PathPrefix(`{path}`)"
        routes.append(
            {"kind": "Rule", "match": match, "services": [{"name": ref.name("split"), "kind": "TraefikService"}]}
        )
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": meta(ref.name(), ref.namespace, service_labels(ref)),
        "spec": {"entryPoints": ["web"], "routes": routes},
    }


# --- SLOs -------------------------------------------------------------------------------------------

BURN_WINDOWS = (
    # (long window, short window, burn-rate factor, severity, for) — Google SRE workbook, ch. 5, table 5-8
    ("1h", "5m", 14.4, "page", "2m"),
    ("6h", "30m", 6.0, "page", "15m"),
    ("1d", "2h", 3.0, "ticket", "1h"),
    ("3d", "6h", 1.0, "ticket", "3h"),
)


def _traefik_selector(ref: Ref) -> str:
    return f'service=~"{ref.namespace}-{ref.name()}-.*"'


def prometheus_rule(ref: Ref, svc: ServiceSpec) -> Manifest:
    """Multi-window, multi-burn-rate alerts for availability, p95 latency and error rate (Traefik metrics)."""
    assert svc.slo is not None
    slo = svc.slo
    sel = _traefik_selector(ref)
    total = f"sum(rate(traefik_service_requests_total{{{sel}}}[$W]))"
    rules: list[Manifest] = []

    def burn(name: str, bad_ratio: str, budget: float, summary: str) -> None:
        for long_w, short_w, factor, severity, for_ in BURN_WINDOWS:
            threshold = round(factor * budget, 6)
            expr = (
                f"({bad_ratio.replace('$W', long_w)}) > {threshold}\n"
                f"and\n({bad_ratio.replace('$W', short_w)}) > {threshold}"
            )
            rules.append(
                {
                    "alert": f"{name}BurnRate{long_w}",
                    "expr": expr,
                    "for": for_,
                    "labels": {
                        "severity": severity,
                        label_key("project"): ref.project,
                        label_key("service"): ref.service,
                        label_key("environment"): ref.environment,
                    },
                    "annotations": {
                        "summary": f"{ref.project}/{ref.service} ({ref.environment}): {summary}",
                        "description": f"burning the {slo.window} error budget {factor}x faster than allowed",
                    },
                }
            )

    if slo.availability is not None:
        bad = f'sum(rate(traefik_service_requests_total{{{sel},code=~"5.."}}[$W])) / {total}'
        burn("Availability", bad, round(1 - slo.availability / 100, 6), f"availability below {slo.availability}%")
    if slo.error_rate is not None:
        rate = float(slo.error_rate) / 100
        bad = f'sum(rate(traefik_service_requests_total{{{sel},code=~"[45]..",code!="404"}}[$W])) / {total}'
        burn("ErrorRate", bad, round(rate, 6), f"error rate above {slo.error_rate}%")
    if slo.latency_p95 is not None:
        le = f"{duration_seconds(slo.latency_p95):g}"
        slow = (
            f'1 - (sum(rate(traefik_service_request_duration_seconds_bucket{{{sel},le="{le}"}}[$W])) / '
            f"sum(rate(traefik_service_request_duration_seconds_count{{{sel}}}[$W])))"
        )
        burn("Latency", slow, 0.05, f"p95 latency above {slo.latency_p95}")
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta(ref.name("slo"), ref.namespace, service_labels(ref)),
        "spec": {"groups": [{"name": f"{ref.namespace}-{ref.name()}-slo", "rules": rules}]},
    }


def routed_ports(project: ProjectSpec, environment: str) -> list[int]:
    """Container ports of the services routed in ``environment`` (tcp services are not routed)."""
    ports = []
    for svc in project.services_in(environment).values():
        if svc.routes and svc.listen_port is not None:
            ports.append(svc.listen_port)
    return sorted(set(ports))
