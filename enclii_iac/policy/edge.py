"""Edge guardrail: nothing is reachable except through the Cloudflare Tunnel.

Pure rules over recorded resources (``enclii_iac.testing.ResourceRecord``), like the tenancy rules:
each takes every record and returns ``Violation``s. ``tunnel_only`` runs them all.

- ``exposed_services``: no Kubernetes Service of type LoadBalancer or NodePort, none with externalIPs.
- ``host_ports``: no pod on the host network, no container hostPort.
- ``dns_through_tunnel``: address records in the zone are proxied CNAMEs to ``<tunnel-id>.cfargotunnel.com``.
- ``ingress_through_tunnel``: every Ingress uses the tunnel-served class, and a tunnel rule reaches it.
- ``tunnel_config_closed``: tunnels are remotely managed, route only to in-cluster services, end in a 404.
- ``firewall_closed``: no Hetzner firewall rule accepts the whole internet; no Hetzner load balancer.

The one declared way past the tenant tunnel is the Kubernetes API (``cluster.apiAccess``, children of a
``ClusterApiAccess``): its DNS-only records in ``allowlist`` mode (6443 stays closed except to the allow-list)
and its own tunnel, which may route only to the API server on the server itself (``tcp://127.0.0.1:6443``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from enclii_iac.policy.base import WORKLOADS, Record, Violation, dig, of_type, plain, ref

TUNNEL_SUFFIX: Final = ".cfargotunnel.com"
TUNNEL_INGRESS_CLASS: Final = "traefik"
"""The IngressClass served by the Traefik the tunnel routes tenant hostnames to."""

DNS_RECORD: Final = "cloudflare:index/dnsRecord:DnsRecord"
LEGACY_RECORD: Final = "cloudflare:index/record:Record"
TUNNEL: Final = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
TUNNEL_CONFIG: Final = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
K8S_SERVICE: Final = "kubernetes:core/v1:Service"
K8S_INGRESS: Final = "kubernetes:networking.k8s.io/v1:Ingress"
HCLOUD_FIREWALL: Final = "hcloud:index/firewall:Firewall"
HCLOUD_LOAD_BALANCER: Final = "hcloud:index/loadBalancer:LoadBalancer"

NON_ADDRESS_RECORDS: Final = frozenset({"TXT", "MX", "CAA"})
"""DNS record types that publish no address a client could connect to over HTTP."""


WORLD: Final = frozenset({"0.0.0.0/0", "::/0"})

API_ACCESS: Final = "enclii:index:ClusterApiAccess"
API_ORIGIN: Final = "tcp://127.0.0.1:6443"
"""The only origin the Kubernetes API's tunnel may route to: the API server on the server itself."""


def _api_access_child(r: Any) -> bool:
    """True for a resource declared by ClusterApiAccess (its URN names the parent's type)."""
    return f"{API_ACCESS}$" in str(getattr(r, "urn", ""))


def _world_like(sources: list[str]) -> str | None:
    from enclii_iac.models.host import world_like

    try:
        return world_like(sources)
    except ValueError:
        return None


def _ingresses(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    rules = dig(inputs, ("config", "ingresses")) or dig(inputs, ("config", "ingressRules")) or []
    return [r for r in rules if isinstance(r, dict)]


# --- rules ------------------------------------------------------------------------------------------------


def exposed_services(records: list[Record]) -> list[Violation]:
    """No Service of type LoadBalancer or NodePort, and none with externalIPs."""
    out = []
    for r, inputs in of_type(records, K8S_SERVICE):
        spec = inputs.get("spec") or {}
        kind = spec.get("type") or "ClusterIP"
        if kind in ("LoadBalancer", "NodePort"):
            out.append(
                Violation(
                    "tunnel-only-service",
                    ref(r),
                    f"type {kind} opens a port on the node; use ClusterIP and route through the tunnel",
                )
            )
        if spec.get("externalIPs"):
            out.append(Violation("tunnel-only-service", ref(r), "externalIPs expose the service outside the tunnel"))
    return out


def host_ports(records: list[Record]) -> list[Violation]:
    """No pod on the host network and no container hostPort."""
    out = []
    for r in records:
        path = WORKLOADS.get(r.type)
        if path is None:
            continue
        spec = dig(plain(r.inputs), path)
        if not isinstance(spec, dict):
            continue
        if spec.get("hostNetwork"):
            out.append(Violation("tunnel-only-host-port", ref(r), "hostNetwork puts the pod's ports on the node"))
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for port in (c.get("ports") or []) if isinstance(c, dict) else []:
                if isinstance(port, dict) and port.get("hostPort"):
                    out.append(
                        Violation(
                            "tunnel-only-host-port",
                            ref(r),
                            f"container {c.get('name')!r} binds hostPort {port['hostPort']}",
                        )
                    )
    return out


def dns_through_tunnel(records: list[Record]) -> list[Violation]:
    """Every address record is a proxied CNAME to ``<tunnel-id>.cfargotunnel.com``."""
    out = []
    for r, _ in of_type(records, LEGACY_RECORD):
        out.append(Violation("tunnel-only-dns", ref(r), "use cloudflare.DnsRecord (v6), not the deprecated Record"))
    for r, inputs in of_type(records, DNS_RECORD):
        kind = str(inputs.get("type") or "").upper()
        name = inputs.get("name")
        if kind in NON_ADDRESS_RECORDS:
            continue
        if kind in ("A", "AAAA") and inputs.get("proxied") is False and _api_access_child(r):
            continue  # the Kubernetes API's allow-list record (cluster.apiAccess.mode: allowlist)
        if kind != "CNAME":
            out.append(
                Violation(
                    "tunnel-only-dns",
                    ref(r),
                    f"{name}: a {kind or 'untyped'} record points clients past the tunnel; "
                    "use a proxied CNAME to the tunnel",
                )
            )
            continue
        content = str(inputs.get("content") or "")
        if not content.endswith(TUNNEL_SUFFIX):
            out.append(
                Violation(
                    "tunnel-only-dns", ref(r), f"{name}: CNAME to {content!r}, not to <tunnel-id>{TUNNEL_SUFFIX}"
                )
            )
        if inputs.get("proxied") is not True:
            out.append(Violation("tunnel-only-dns", ref(r), f"{name}: not proxied (proxied: true is required)"))
    return out


def ingress_through_tunnel(records: list[Record], ingress_class: str = TUNNEL_INGRESS_CLASS) -> list[Violation]:
    """Every Ingress uses the tunnel-served IngressClass, and some tunnel rule reaches that controller."""
    out = []
    ingresses = list(of_type(records, K8S_INGRESS))
    for r, inputs in ingresses:
        cls = dig(inputs, ("spec", "ingressClassName"))
        if cls != ingress_class:
            out.append(
                Violation(
                    "tunnel-only-ingress",
                    ref(r),
                    f"ingressClassName {cls!r} is not served through the tunnel (use {ingress_class!r})",
                )
            )
    tunnels = list(of_type(records, TUNNEL_CONFIG))
    if ingresses and tunnels:  # a stack without a tunnel (a preview on production's cluster) is served by
        reaches = any(  # the stack that owns the tunnel; its routes are checked there
            ingress_class in str(rule.get("service") or "")
            for _, inputs in tunnels
            for rule in _ingresses(inputs)
        )
        if not reaches:
            r = ingresses[0][0]
            out.append(
                Violation(
                    "tunnel-only-ingress",
                    ref(r),
                    f"no tunnel ingress rule routes to {ingress_class}; declare a CloudflareTunnel for the tenants",
                )
            )
    return out


def tunnel_config_closed(records: list[Record]) -> list[Violation]:
    """Tunnels are remotely managed; their rules reach only in-cluster services and end in a 404 catch-all."""
    out = []
    for r, inputs in of_type(records, TUNNEL):
        if inputs.get("configSrc") != "cloudflare":
            out.append(
                Violation(
                    "tunnel-config",
                    ref(r),
                    f"configSrc {inputs.get('configSrc')!r}: use 'cloudflare' so routes live in code",
                )
            )
    for r, inputs in of_type(records, TUNNEL_CONFIG):
        rules = _ingresses(inputs)
        if not rules:
            out.append(Violation("tunnel-config", ref(r), "no ingress rules"))
            continue
        last = rules[-1]
        if last.get("hostname") or last.get("path") or not str(last.get("service") or "").startswith("http_status:"):
            out.append(
                Violation("tunnel-config", ref(r), f"the last rule must be the catch-all http_status:404, got {last}")
            )
        for rule in rules:
            svc = str(rule.get("service") or "")
            if svc.startswith("http_status:"):
                continue
            if _api_access_child(r):
                if svc != API_ORIGIN:
                    out.append(Violation("tunnel-config", ref(r),
                                         f"{rule.get('hostname')}: the API tunnel may route only to {API_ORIGIN}"))
                continue
            host = svc.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if not host.endswith(".svc.cluster.local"):
                out.append(
                    Violation(
                        "tunnel-config", ref(r), f"{rule.get('hostname')}: service {svc!r} is outside the cluster"
                    )
                )
    return out


def firewall_closed(records: list[Record]) -> list[Violation]:
    """No Hetzner firewall rule accepts traffic from the whole internet; no Hetzner load balancer."""
    out = []
    for r, inputs in of_type(records, HCLOUD_FIREWALL):
        by_port: dict[tuple[str, str], list[str]] = {}
        for rule in inputs.get("rules") or []:
            if not isinstance(rule, dict) or rule.get("direction") != "in" or rule.get("protocol") == "icmp":
                continue
            sources = [str(s) for s in rule.get("sourceIps") or []]
            by_port.setdefault((str(rule.get("protocol")), str(rule.get("port"))), []).extend(sources)
            open_to = WORLD & set(sources)
            if open_to:
                out.append(
                    Violation(
                        "tunnel-only-firewall",
                        ref(r),
                        f"inbound {rule.get('protocol')} {rule.get('port')} is open to "
                        f"{', '.join(sorted(open_to))}; list source addresses or use the tunnel",
                    )
                )
        for (proto, port), sources in sorted(by_port.items()):
            if WORLD & set(sources):
                continue
            why = _world_like(sources)
            if why:
                out.append(Violation("tunnel-only-firewall", ref(r), f"inbound {proto} {port}: {why}, as good as "
                                                                      "the whole internet; list source addresses"))
    for r, _ in of_type(records, HCLOUD_LOAD_BALANCER):
        out.append(Violation("tunnel-only-firewall", ref(r), "a load balancer exposes the cluster past the tunnel"))
    return out


EDGE_RULES: Final[tuple[Callable[[list[Any]], list[Violation]], ...]] = (
    exposed_services,
    host_ports,
    dns_through_tunnel,
    ingress_through_tunnel,
    tunnel_config_closed,
    firewall_closed,
)
"""Every edge rule, in a stable order (for ``enclii_iac.policy.run.all_rules``)."""


def tunnel_only(records: list[Any]) -> list[Violation]:
    """Every violation of the edge rules, sorted."""
    out: list[Violation] = []
    for rule in EDGE_RULES:
        out += rule(records)
    return sorted(set(out))
