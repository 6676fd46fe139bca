"""The Kubernetes API behind Cloudflare Access, as plain data: the API tunnel's ingress, its connector (a
k3s static pod on each server) and the commands operators and CI run. Pure: no Pulumi.

    rules = api_tunnel_ingress("kube.example.com")
    script = render_connector_script(token="...", image=CLOUDFLARED_IMAGE)
    client_commands("kube.example.com", 6443)["operator"]
"""

from __future__ import annotations

from typing import Any, Final

from enclii_iac import host_defaults as hd
from enclii_iac.models.cluster import K3sClusterSpec
from enclii_iac.models.edge import CLOUDFLARED_UID
from enclii_iac.render.edge import CATCH_ALL, fqdn
from enclii_iac.render.host import HEADER, dump_yaml
from enclii_iac.render.shell import render_script

STATIC_POD_DIR: Final = "/var/lib/rancher/k3s/agent/pod-manifests"
"""Where k3s's kubelet reads static pod manifests (``--pod-manifest-path``)."""
CONNECTOR_MANIFEST_PATH: Final = f"{STATIC_POD_DIR}/enclii-api-connector.yaml"
CONNECTOR_TOKEN_DIR: Final = "/etc/enclii/api-tunnel"
CONNECTOR_TOKEN_PATH: Final = f"{CONNECTOR_TOKEN_DIR}/token"
CONNECTOR_METRICS_PORT: Final = 20241
"""cloudflared's own default metrics port, on the server's loopback (the pod uses the host network)."""
CONNECTOR_NAME: Final = "enclii-api-connector"
API_ORIGIN: Final = f"tcp://127.0.0.1:{hd.API_PORT}"
"""What the API tunnel serves: the API server on the server itself (its certificate includes 127.0.0.1)."""
SERVICE_TOKEN_ENV: Final = ("TUNNEL_SERVICE_TOKEN_ID", "TUNNEL_SERVICE_TOKEN_SECRET")
"""Environment variables ``cloudflared access`` reads an Access service token from."""


def api_hostname(cluster: K3sClusterSpec, zone: str) -> str:
    """The API's name in the zone (``kube.example.com``)."""
    return fqdn(cluster.api_access.hostname, zone)


def api_tunnel_ingress(hostname: str) -> list[dict[str, str]]:
    """Ingress of the API tunnel: the hostname to the local API server, anything else a 404."""
    return [{"hostname": hostname, "service": API_ORIGIN}, {"service": CATCH_ALL}]


def connector_pod(image: str) -> dict[str, Any]:
    """The connector static pod: cloudflared on the host network (it dials out and reaches 127.0.0.1:6443),
    non-root, read-only root filesystem, no capabilities, the token read from a file owned by its user."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": CONNECTOR_NAME,
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/name": CONNECTOR_NAME, "app.kubernetes.io/managed-by": "enclii-iac"},
        },
        "spec": {
            "hostNetwork": True,
            "dnsPolicy": "Default",
            "priorityClassName": "system-node-critical",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": CLOUDFLARED_UID,
                "runAsGroup": CLOUDFLARED_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "cloudflared",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": [
                        "tunnel", "--no-autoupdate", "--metrics", f"127.0.0.1:{CONNECTOR_METRICS_PORT}",
                        "run", "--token-file", "/etc/cloudflared/token",
                    ],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "200m", "memory": "128Mi"},
                    },
                    "livenessProbe": {
                        "httpGet": {"host": "127.0.0.1", "path": "/ready", "port": CONNECTOR_METRICS_PORT},
                        "initialDelaySeconds": 10,
                        "periodSeconds": 10,
                        "failureThreshold": 6,
                    },
                    "volumeMounts": [{"name": "token", "mountPath": "/etc/cloudflared", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "token", "hostPath": {"path": CONNECTOR_TOKEN_DIR, "type": "Directory"}}],
        },
    }


def render_connector_script(*, token: str, image: str) -> str:
    """The step that installs the connector on one server (as root, through sudo): token file, static pod."""
    return render_script(
        "api-connector.sh.j2",
        uid=CLOUDFLARED_UID,
        token_dir=CONNECTOR_TOKEN_DIR,
        token_path=CONNECTOR_TOKEN_PATH,
        token=token,
        manifest_dir=STATIC_POD_DIR,
        manifest_path=CONNECTOR_MANIFEST_PATH,
        manifest=HEADER + dump_yaml(connector_pod(image)),
    )


def client_commands(hostname: str, local_port: int) -> dict[str, str]:
    """What operators and CI run before ``pulumi up`` or ``kubectl`` (the kubeconfig points at the local port)."""
    forward = f"cloudflared access tcp --hostname {hostname} --url 127.0.0.1:{local_port}"
    token_id, token_secret = SERVICE_TOKEN_ENV
    return {
        "login": f"cloudflared access login https://{hostname}",
        "operator": forward,
        "ci": f"{token_id}=<client id> {token_secret}=<client secret> {forward}",
    }
