"""PlatformRedis: Redis with three Sentinels, persistence (AOF on a volume per pod), protected in production.

One StatefulSet of three pods, each running ``redis-server`` and ``redis-sentinel``. At start each pod asks
the Sentinels who the master is (pod 0 when none answers yet) and starts as a replica of it otherwise, so a
restarted former master rejoins as a replica after a failover. Clients (and KEDA's ``redis-sentinel``
trigger) ask the Service ``<name>-sentinel`` on 26379 for master ``enclii``; the password is a Pulumi
secret (``random.RandomPassword``) in the Secret ``<name>-auth``.

The start scripts are text (``redis_script``, ``sentinel_script``): every value they use arrives through
the environment and is quoted, and they pass shellcheck.
"""

from __future__ import annotations

from typing import Final

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import defaults
from enclii_iac.models.data import RedisSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render.kube import Manifest, meta, restricted_security_context
from enclii_iac.render.kube import resource_args as _args

TYPE_PLATFORM_REDIS: Final = type_token("PlatformRedis")
MASTER_NAME: Final = "enclii"
REDIS_PORT: Final = 6379
SENTINEL_PORT: Final = 26379
REPLICAS: Final = 3
QUORUM: Final = 2

_DISCOVER = """\
# who is the master? ask every sentinel; none answers on the first start: pod 0
discover_master() {
  for i in 0 1 2; do
    reply=$(redis-cli -h "${STS_NAME}-${i}.${HEADLESS}" -p 26379 --raw \\
      sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null || true)
    addr=$(printf '%s\\n' "$reply" | head -n 1)
    case $addr in
      ""|*ERR*|*NOAUTH*) ;;
      *) printf '%s\\n' "$addr"; return 0 ;;
    esac
  done
  printf '%s\\n' "${STS_NAME}-0.${HEADLESS}"
}
"""


def redis_script() -> str:
    return f"""#!/bin/sh
# Start redis-server as the master or a replica of the master the sentinels report (docs/data-services.md).
set -eu
: "${{REDISCLI_AUTH:?}}" "${{STS_NAME:?}}" "${{HEADLESS:?}}" "${{MASTER_NAME:?}}"
{_DISCOVER}
self="$(hostname).${{HEADLESS}}"
master=$(discover_master)
conf=/conf/redis.conf
{{
  printf 'port 6379\\ndir /data\\nappendonly yes\\nappendfsync everysec\\nsave 900 1\\nprotected-mode no\\n'
  printf 'requirepass "%s"\\nmasterauth "%s"\\n' "$REDISCLI_AUTH" "$REDISCLI_AUTH"
  printf 'replica-announce-ip %s\\n' "$self"
  if [ "$master" != "$self" ]; then
    printf 'replicaof %s 6379\\n' "$master"
  fi
}} >"$conf"
exec redis-server "$conf"
"""


def sentinel_script() -> str:
    return f"""#!/bin/sh
# Start redis-sentinel watching the current master (docs/data-services.md).
set -eu
: "${{REDISCLI_AUTH:?}}" "${{STS_NAME:?}}" "${{HEADLESS:?}}" "${{MASTER_NAME:?}}"
{_DISCOVER}
self="$(hostname).${{HEADLESS}}"
master=$(discover_master)
conf=/conf/sentinel.conf
{{
  printf 'port 26379\\nsentinel resolve-hostnames yes\\nsentinel announce-hostnames yes\\n'
  printf 'sentinel announce-ip %s\\n' "$self"
  printf 'requirepass "%s"\\nsentinel sentinel-pass "%s"\\n' "$REDISCLI_AUTH" "$REDISCLI_AUTH"
  printf 'sentinel monitor %s %s 6379 {QUORUM}\\n' "$MASTER_NAME" "$master"
  printf 'sentinel auth-pass %s "%s"\\n' "$MASTER_NAME" "$REDISCLI_AUTH"
  printf 'sentinel down-after-milliseconds %s 5000\\nsentinel failover-timeout %s 60000\\n' \\
    "$MASTER_NAME" "$MASTER_NAME"
}} >"$conf"
exec redis-sentinel "$conf"
"""


def labels(spec: RedisSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": defaults.MANAGED_BY,
        "app.kubernetes.io/part-of": "enclii",
        "app.kubernetes.io/name": "redis",
        "app.kubernetes.io/instance": spec.name,
    }


def selector(spec: RedisSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": spec.name}


def headless_name(spec: RedisSpec) -> str:
    return f"{spec.name}-headless"


def sentinel_address(spec: RedisSpec) -> str:
    """``host:port`` of the Sentinel service (KEDA ``redis-sentinel`` triggers: ``addresses``)."""
    return f"{spec.name}-sentinel.{spec.namespace}.svc:{SENTINEL_PORT}"


def _container(spec: RedisSpec, name: str, script: str, port: int) -> Manifest:
    probe = {"exec": {"command": ["redis-cli", "-p", str(port), "ping"]}, "periodSeconds": 10,
             "timeoutSeconds": 3, "failureThreshold": 3}
    return {
        "name": name,
        "image": spec.image,
        "imagePullPolicy": defaults.IMAGE_PULL_POLICY,
        "command": ["sh", f"/scripts/{script}"],
        "ports": [{"name": name, "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {"name": f"{spec.name}-auth", "key": "password"}}},
            {"name": "STS_NAME", "value": spec.name},
            {"name": "HEADLESS", "value": f"{headless_name(spec)}.{spec.namespace}.svc.cluster.local"},
            {"name": "MASTER_NAME", "value": MASTER_NAME},
        ],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "initialDelaySeconds": 20},
        "resources": {
            "requests": {"cpu": "100m", "memory": spec.memory, "ephemeral-storage": "64Mi"},
            "limits": {"cpu": "1", "memory": spec.memory, "ephemeral-storage": defaults.EPHEMERAL_STORAGE_LIMIT},
        },
        "securityContext": restricted_security_context(),
        "volumeMounts": [{"name": "scripts", "mountPath": "/scripts", "readOnly": True},
                         {"name": f"conf-{name}", "mountPath": "/conf"},
                         *([{"name": "data", "mountPath": "/data"}] if name == "redis" else [])],
    }


def stateful_set(spec: RedisSpec) -> Manifest:
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": defaults.TERMINATION_GRACE_S,
        "securityContext": {"runAsNonRoot": True, "runAsUser": defaults.RUN_AS_USER,
                            "runAsGroup": defaults.RUN_AS_GROUP, "fsGroup": defaults.RUN_AS_GROUP,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(spec, "redis", "redis.sh", REDIS_PORT),
                       _container(spec, "sentinel", "sentinel.sh", SENTINEL_PORT)],
        "volumes": [{"name": "scripts", "configMap": {"name": f"{spec.name}-scripts", "defaultMode": 0o444}},
                    {"name": "conf-redis", "emptyDir": {"sizeLimit": "1Mi"}},
                    {"name": "conf-sentinel", "emptyDir": {"sizeLimit": "1Mi"}}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(spec.name, spec.namespace, labels(spec)),
        "spec": {
            "serviceName": headless_name(spec),
            "replicas": REPLICAS,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector(spec)},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": labels(spec)}, "spec": pod},
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": labels(spec)},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": spec.storage_class,
                         "resources": {"requests": {"storage": spec.storage_size}}},
            }],
        },
    }


def services(spec: RedisSpec) -> list[Manifest]:
    ports = [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"},
             {"name": "sentinel", "port": SENTINEL_PORT, "targetPort": "sentinel", "protocol": "TCP"}]
    headless = {"apiVersion": "v1", "kind": "Service", "metadata": meta(headless_name(spec), spec.namespace,
                                                                        labels(spec)),
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector(spec),
                         "ports": ports}}
    sentinel = {"apiVersion": "v1", "kind": "Service", "metadata": meta(f"{spec.name}-sentinel", spec.namespace,
                                                                        labels(spec)),
                "spec": {"selector": selector(spec), "ports": [ports[1]]}}
    return [headless, sentinel]


def pdb(spec: RedisSpec) -> Manifest:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": meta(spec.name, spec.namespace, labels(spec)),
            "spec": {"minAvailable": QUORUM, "selector": {"matchLabels": selector(spec)}}}


def network_policy(spec: RedisSpec) -> Manifest:
    sources: list[Manifest] = [{"podSelector": {"matchLabels": selector(spec)}}]
    sources += [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                for ns in sorted(spec.client_namespaces)]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"{spec.name}-ingress", spec.namespace, labels(spec)),
        "spec": {"podSelector": {"matchLabels": selector(spec)}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": REDIS_PORT},
                                                         {"protocol": "TCP", "port": SENTINEL_PORT}]}]},
    }


class PlatformRedis(pulumi.ComponentResource):
    """Redis + three Sentinels in ``args.namespace`` (which PlatformPostgres declares, or the caller)."""

    sentinel_address: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: RedisSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: k8s.Provider,
        namespace: pulumi.Resource | None = None,
        protect: bool = False,
    ) -> None:
        """``namespace``: the Namespace resource (PostgreSQL's, when shared); default: one declared here. The
        random provider (the password) comes from ``opts``/the parent, like every explicit provider."""
        import pulumi_random as random

        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
        super().__init__(TYPE_PLATFORM_REDIS, name, None, opts)
        spec = args
        self.namespace_resource: pulumi.Resource | None = namespace
        if namespace is None:
            from enclii_iac.render.kube import psa_labels

            self.namespace_resource = k8s.core.v1.Namespace(
                child_name(name, "ns"), metadata=meta(spec.namespace, None, {**labels(spec), **psa_labels()}),
                opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
            )
        after: list[pulumi.Resource] = [self.namespace_resource] if self.namespace_resource is not None else []
        self.random_password = random.RandomPassword(
            child_name(name, "password"), length=40, special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.password = pulumi.Output.secret(self.random_password.result)
        self.secret = k8s.core.v1.Secret(
            child_name(name, "auth"), metadata=meta(f"{spec.name}-auth", spec.namespace, labels(spec)),
            type="Opaque", string_data={"password": self.password},
            opts=pulumi.ResourceOptions(parent=self, depends_on=after,
                                        additional_secret_outputs=["data", "stringData"]),
        )
        self.scripts = k8s.core.v1.ConfigMap(
            child_name(name, "scripts"), metadata=meta(f"{spec.name}-scripts", spec.namespace, labels(spec)),
            data={"redis.sh": redis_script(), "sentinel.sh": sentinel_script()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        self.services = {
            svc["metadata"]["name"]: k8s.core.v1.Service(
                child_name(name, "svc", "headless" if svc["metadata"]["name"].endswith("headless") else "sentinel"),
                **_args(svc), opts=pulumi.ResourceOptions(parent=self, depends_on=after))
            for svc in services(spec)
        }
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            child_name(name, "netpol"), **_args(network_policy(spec)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        self.pdb = k8s.policy.v1.PodDisruptionBudget(
            child_name(name, "pdb"), **_args(pdb(spec)), opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        self.stateful_set = k8s.apps.v1.StatefulSet(
            child_name(name, "sts"), **_args(stateful_set(spec)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, self.secret, self.scripts,
                                                                 *self.services.values()],
                                        protect=protect, retain_on_delete=protect),
        )
        self.sentinel_address = pulumi.Output.from_input(sentinel_address(spec))
        self.register_outputs({"sentinel_address": self.sentinel_address, "password": self.password})
