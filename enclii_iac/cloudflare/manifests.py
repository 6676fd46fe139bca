"""Kubernetes objects of the cloudflared connector, built as plain data (camelCase manifests).

Pure functions, golden-tested. The tunnel token never passes through here: the component builds
the Secret from a Pulumi secret Output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from enclii_iac import defaults
from enclii_iac.models.edge import CLOUDFLARED_UID, TUNNEL_EDGE_PORT, TunnelSpec
from enclii_iac.render.edge import Origin
from enclii_iac.render.kube import psa_labels, restricted_security_context

Manifest = dict[str, Any]

APP = "cloudflared"
TOKEN_SECRET = "cloudflared-token"
TOKEN_KEY = "token"
TOKEN_DIR = "/etc/cloudflared/token"
"""Where the token Secret is mounted (read with ``--token-file``, never put in the environment)."""
TOKEN_FILE_MODE = 0o440
"""Owner and group (``fsGroup``) may read the token file; nobody else."""
METRICS_PORT_NAME = "metrics"
TUNNEL_ID_ANNOTATION = "enclii.dev/tunnel-id"
"""Pod-template annotation: a new tunnel (new token) rolls the connector pods."""

PRIVATE_V4 = ("10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
PRIVATE_V6 = ("fc00::/7", "fe80::/10")
"""Ranges excluded from the Cloudflare egress rule, so it cannot be used to reach the cluster or the LAN."""


def labels(spec: TunnelSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/component": "tunnel-connector",
        "app.kubernetes.io/part-of": "enclii",
        "app.kubernetes.io/managed-by": defaults.MANAGED_BY,
    }


def selector(spec: TunnelSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": spec.name}


def _meta(name: str, namespace: str | None, spec: TunnelSpec) -> Manifest:
    out: Manifest = {"name": name, "labels": labels(spec)}
    if namespace is not None:
        out["namespace"] = namespace
    return out


def namespace(spec: TunnelSpec, name: str) -> Manifest:
    meta = _meta(name, None, spec)
    meta["labels"] = {**meta["labels"], **psa_labels()}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(spec: TunnelSpec, ns: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(APP, ns, spec),
        "automountServiceAccountToken": False,
    }


def token_secret_metadata(spec: TunnelSpec, ns: str) -> Manifest:
    return _meta(TOKEN_SECRET, ns, spec)


def container(spec: TunnelSpec) -> Manifest:
    probe = {"httpGet": {"path": "/ready", "port": METRICS_PORT_NAME}, "periodSeconds": 10, "timeoutSeconds": 3}
    return {
        "name": APP,
        "image": spec.image,
        "imagePullPolicy": defaults.IMAGE_PULL_POLICY,
        "args": [
            "tunnel",
            "--no-autoupdate",
            "--loglevel",
            spec.log_level,
            "--protocol",
            spec.protocol,
            "--metrics",
            f"0.0.0.0:{spec.metrics_port}",
            "run",
            "--token-file",
            f"{TOKEN_DIR}/{TOKEN_KEY}",
        ],
        "volumeMounts": [{"name": "token", "mountPath": TOKEN_DIR, "readOnly": True}],
        "ports": [{"name": METRICS_PORT_NAME, "containerPort": spec.metrics_port, "protocol": "TCP"}],
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "failureThreshold": 3},
        # /ready is "connected to Cloudflare's edge": an edge outage must not restart every connector at once,
        # so liveness asks only whether the process answers (/healthcheck of the same metrics server)
        "livenessProbe": {**probe, "httpGet": {"path": "/healthcheck", "port": METRICS_PORT_NAME},
                          "initialDelaySeconds": 10, "failureThreshold": 6},
        "resources": {
            "requests": {"cpu": spec.cpu, "memory": spec.memory, "ephemeral-storage": "16Mi"},
            "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit, "ephemeral-storage": "64Mi"},
        },
        "securityContext": restricted_security_context(CLOUDFLARED_UID, CLOUDFLARED_UID),
    }


def deployment(spec: TunnelSpec, ns: str, tunnel_id: str) -> Manifest:
    """The connector: ``replicas`` pods of ``cloudflared tunnel run --token-file`` (the Secret mounted read-only)."""
    pod_labels = labels(spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(APP, ns, spec),
        "spec": {
            "replicas": spec.replicas,
            "revisionHistoryLimit": defaults.REVISION_HISTORY_LIMIT,
            "progressDeadlineSeconds": defaults.PROGRESS_DEADLINE_S,
            "selector": {"matchLabels": selector(spec)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {TUNNEL_ID_ANNOTATION: tunnel_id}},
                "spec": {
                    "serviceAccountName": APP,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 45,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": CLOUDFLARED_UID,
                        "runAsGroup": CLOUDFLARED_UID,
                        "fsGroup": CLOUDFLARED_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                        "sysctls": [
                            {"name": "net.ipv4.ping_group_range", "value": f"{CLOUDFLARED_UID} {CLOUDFLARED_UID}"}
                        ],
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(spec)},
                        }
                    ],
                    "containers": [container(spec)],
                    "volumes": [
                        {
                            "name": "token",
                            "secret": {
                                "secretName": TOKEN_SECRET,
                                "items": [{"key": TOKEN_KEY, "path": TOKEN_KEY}],
                                "defaultMode": TOKEN_FILE_MODE,
                            },
                        }
                    ],
                },
            },
        },
    }


def pdb(spec: TunnelSpec, ns: str) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(APP, ns, spec),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(spec)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",  # a crash-looping connector never blocks a drain
        },
    }


def metrics_service(spec: TunnelSpec, ns: str) -> Manifest:
    """A ClusterIP Service for Prometheus to scrape the connectors' metrics."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{APP}-metrics", ns, spec),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec),
            "ports": [
                {
                    "name": METRICS_PORT_NAME,
                    "port": spec.metrics_port,
                    "targetPort": METRICS_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _policy(spec: TunnelSpec, ns: str, name: str, body: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, ns, spec),
        "spec": body,
    }


def network_policies(
    spec: TunnelSpec, ns: str, origins: Sequence[Origin], *, dns_namespace: str = "kube-system"
) -> list[Manifest]:
    """Default-deny, then: DNS, Cloudflare's edge (7844 TCP/UDP, 443), the routed origins, metrics scrapes."""
    pods = {"matchLabels": selector(spec)}
    out = [
        _policy(spec, ns, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            spec,
            ns,
            "allow-dns",
            {
                "podSelector": pods,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns_namespace}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        _policy(
            spec,
            ns,
            "allow-cloudflare",
            {
                "podSelector": pods,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_V4)}},
                            {"ipBlock": {"cidr": "::/0", "except": list(PRIVATE_V6)}},
                        ],
                        "ports": [
                            {"protocol": "TCP", "port": TUNNEL_EDGE_PORT},
                            {"protocol": "UDP", "port": TUNNEL_EDGE_PORT},
                            {"protocol": "TCP", "port": 443},
                        ],
                    }
                ],
            },
        ),
    ]
    egress = []
    for o in origins:
        peer: Manifest = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": o.namespace}}}
        if o.pod_labels:
            peer["podSelector"] = {"matchLabels": dict(o.pod_labels)}
        egress.append({"to": [peer], "ports": [{"protocol": "TCP", "port": o.port}]})
    out.append(_policy(spec, ns, "allow-origins", {"podSelector": pods, "policyTypes": ["Egress"], "egress": egress}))
    if spec.metrics_namespaces:
        out.append(
            _policy(
                spec,
                ns,
                "allow-metrics",
                {
                    "podSelector": pods,
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}}
                                for n in sorted(spec.metrics_namespaces)
                            ],
                            "ports": [{"protocol": "TCP", "port": spec.metrics_port}],
                        }
                    ],
                },
            )
        )
    return out


def all_manifests(spec: TunnelSpec, ns: str, origins: Sequence[Origin], tunnel_id: str) -> list[Manifest]:
    """Every object of the connector except the token Secret, in apply order."""
    return [
        namespace(spec, ns),
        service_account(spec, ns),
        deployment(spec, ns, tunnel_id),
        pdb(spec, ns),
        metrics_service(spec, ns),
        *network_policies(spec, ns, origins),
    ]
