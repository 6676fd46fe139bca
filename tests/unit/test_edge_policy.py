"""The tunnel-only edge rules over hand-built records: each violation, and its absence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from enclii_iac.policy.base import Violation
from enclii_iac.policy.edge import (
    EDGE_RULES,
    dns_through_tunnel,
    exposed_services,
    firewall_closed,
    host_ports,
    ingress_through_tunnel,
    tunnel_config_closed,
    tunnel_only,
)
from enclii_iac.testing import SECRET_SIG, SECRET_SIG_KEY

TARGET = "0b1c2d3e-tunnel.cfargotunnel.com"
TRAEFIK = "http://traefik.kube-system.svc.cluster.local:80"


@dataclass
class Rec:
    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)


def svc(name: str, type_: str | None = None, **spec: Any) -> Rec:
    body: dict[str, Any] = {"ports": [{"port": 80}], **spec}
    if type_:
        body["type"] = type_
    return Rec("kubernetes:core/v1:Service", name, {"apiVersion": "v1", "kind": "Service", "spec": body})


def deploy(name: str, pod: dict[str, Any]) -> Rec:
    return Rec("kubernetes:apps/v1:Deployment", name, {"spec": {"template": {"spec": pod}}})


def dns(name: str, type_: str, content: str, proxied: bool | None = True) -> Rec:
    inputs: dict[str, Any] = {"zoneId": "z", "name": name, "type": type_, "content": content, "ttl": 1}
    if proxied is not None:
        inputs["proxied"] = proxied
    return Rec("cloudflare:index/dnsRecord:DnsRecord", f"dns-{name}", inputs)


def tunnel(config_src: str = "cloudflare") -> Rec:
    return Rec(
        "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
        "tun",
        {
            "accountId": "a",
            "name": "t",
            "configSrc": config_src,
            "tunnelSecret": {SECRET_SIG_KEY: SECRET_SIG, "value": "c2VjcmV0"},
        },
    )


def config(*rules: dict[str, Any]) -> Rec:
    return Rec(
        "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
        "cfg",
        {"accountId": "a", "tunnelId": "t", "config": {"ingresses": list(rules)}},
    )


def ingress(name: str, cls: str | None = "traefik") -> Rec:
    spec: dict[str, Any] = {"rules": [{"host": "a.example.com"}]}
    if cls is not None:
        spec["ingressClassName"] = cls
    return Rec("kubernetes:networking.k8s.io/v1:Ingress", name, {"spec": spec})


GOOD = [
    svc("web"),
    svc("api", "ClusterIP"),
    deploy("web", {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]}),
    dns("api.example.com", "CNAME", TARGET),
    dns("*.preview.example.com", "CNAME", TARGET),
    dns("example.com", "TXT", "v=spf1 -all", proxied=None),
    dns("example.com", "MX", "mx.mail.example.net", proxied=None),
    tunnel(),
    config(
        {"hostname": "api.example.com", "service": "http://enclii-api.enclii.svc.cluster.local:80"},
        {"hostname": "a.example.com", "service": TRAEFIK},
        {"service": "http_status:404"},
    ),
    ingress("web"),
    Rec(
        "hcloud:index/firewall:Firewall",
        "fw",
        {
            "rules": [
                {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["203.0.113.7/32"]},
                {"direction": "in", "protocol": "icmp", "sourceIps": ["0.0.0.0/0", "::/0"]},
                {"direction": "out", "protocol": "tcp", "port": "any", "destinationIps": ["0.0.0.0/0"]},
            ]
        },
    ),
]


def test_a_tunnel_only_platform_has_no_violations() -> None:
    assert tunnel_only(GOOD) == []
    assert len(EDGE_RULES) == 6


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (svc("lb", "LoadBalancer"), "type LoadBalancer opens a port on the node"),
        (svc("np", "NodePort"), "type NodePort opens a port on the node"),
        (svc("ext", externalIPs=["198.51.100.1"]), "externalIPs expose the service outside the tunnel"),
    ],
)
def test_exposed_services(record: Rec, message: str) -> None:
    [v] = exposed_services([record])
    assert v.rule == "tunnel-only-service" and v.resource == f"{record.type} {record.name}"
    assert v.message.startswith(message)


def test_host_network_and_host_ports() -> None:
    found = host_ports(
        [
            deploy("hostnet", {"hostNetwork": True, "containers": []}),
            deploy("hostport", {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}),
            Rec(
                "kubernetes:batch/v1:CronJob",
                "cron",
                {
                    "spec": {
                        "jobTemplate": {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "initContainers": [
                                            {"name": "i", "ports": [{"containerPort": 1, "hostPort": 9100}]}
                                        ],
                                        "containers": [],
                                    }
                                }
                            }
                        }
                    }
                },
            ),
        ]
    )
    assert [(v.resource.split()[-1], v.message) for v in found] == [
        ("hostnet", "hostNetwork puts the pod's ports on the node"),
        ("hostport", "container 'c' binds hostPort 80"),
        ("cron", "container 'i' binds hostPort 9100"),
    ]


def test_dns_records_must_be_proxied_cnames_to_the_tunnel() -> None:
    found = dns_through_tunnel(
        [
            dns("a.example.com", "A", "203.0.113.10"),
            dns("b.example.com", "AAAA", "2001:db8::1"),
            dns("c.example.com", "CNAME", "origin.example.net"),
            dns("d.example.com", "CNAME", TARGET, proxied=False),
            dns("e.example.com", "CNAME", TARGET, proxied=None),
            dns("f.example.com", "SRV", "0 5 443 host.example.com"),
            Rec("cloudflare:index/record:Record", "legacy", {"name": "g", "type": "CNAME", "value": TARGET}),
        ]
    )
    assert [v.message for v in found] == [
        "use cloudflare.DnsRecord (v6), not the deprecated Record",
        "a.example.com: a A record points clients past the tunnel; use a proxied CNAME to the tunnel",
        "b.example.com: a AAAA record points clients past the tunnel; use a proxied CNAME to the tunnel",
        "c.example.com: CNAME to 'origin.example.net', not to <tunnel-id>.cfargotunnel.com",
        "d.example.com: not proxied (proxied: true is required)",
        "e.example.com: not proxied (proxied: true is required)",
        "f.example.com: a SRV record points clients past the tunnel; use a proxied CNAME to the tunnel",
    ]
    assert {v.rule for v in found} == {"tunnel-only-dns"}


def test_ingress_must_use_the_tunnel_class_and_be_reached_by_the_tunnel() -> None:
    routed = config({"hostname": "a.example.com", "service": TRAEFIK}, {"service": "http_status:404"})
    found = ingress_through_tunnel([ingress("nginx", "nginx"), ingress("default", None), routed])
    assert [v.message for v in found] == [
        "ingressClassName 'nginx' is not served through the tunnel (use 'traefik')",
        "ingressClassName None is not served through the tunnel (use 'traefik')",
    ]
    elsewhere = config(
        {"hostname": "a.example.com", "service": "http://other.ns.svc:80"}, {"service": "http_status:404"}
    )
    [orphan] = ingress_through_tunnel([ingress("web"), elsewhere])
    assert orphan.message.startswith("no tunnel ingress rule routes to traefik")
    # a stack without a tunnel (a preview on production's cluster) is checked where the tunnel is declared
    assert ingress_through_tunnel([ingress("web")]) == []
    assert ingress_through_tunnel([]) == []


def test_tunnel_config_must_be_remote_in_cluster_and_closed() -> None:
    found = tunnel_config_closed(
        [
            tunnel("local"),
            config(
                {"hostname": "a.example.com", "service": "http://192.168.1.10:8080"},
                {"hostname": "b.example.com", "service": TRAEFIK},
            ),
        ]
    )
    assert [v.message for v in found] == [
        "configSrc 'local': use 'cloudflare' so routes live in code",
        "the last rule must be the catch-all http_status:404, got {'hostname': 'b.example.com', 'service': '"
        + TRAEFIK
        + "'}",
        "a.example.com: service 'http://192.168.1.10:8080' is outside the cluster",
    ]
    [empty] = tunnel_config_closed([config()])
    assert empty.message == "no ingress rules"


def test_hetzner_firewall_and_load_balancers() -> None:
    found = firewall_closed(
        [
            Rec(
                "hcloud:index/firewall:Firewall",
                "fw",
                {
                    "rules": [
                        {"direction": "in", "protocol": "tcp", "port": "443", "sourceIps": ["0.0.0.0/0", "::/0"]},
                        {"direction": "in", "protocol": "tcp", "port": "6443", "sourceIps": ["::/0"]},
                    ]
                },
            ),
            Rec("hcloud:index/loadBalancer:LoadBalancer", "lb", {"name": "lb"}),
        ]
    )
    assert [v.message for v in found] == [
        "inbound tcp 443 is open to 0.0.0.0/0, ::/0; list source addresses or use the tunnel",
        "inbound tcp 6443 is open to ::/0; list source addresses or use the tunnel",
        "a load balancer exposes the cluster past the tunnel",
    ]


def test_tunnel_only_sorts_and_deduplicates() -> None:
    bad = [svc("b", "NodePort"), svc("a", "LoadBalancer"), svc("a", "LoadBalancer")]
    found = tunnel_only(bad)
    assert found == sorted(found)
    assert [v.resource for v in found] == ["kubernetes:core/v1:Service a", "kubernetes:core/v1:Service b"]
    assert all(isinstance(v, Violation) for v in found)


def test_secret_inputs_are_read_through() -> None:
    secret_dns = dns("a.example.com", "CNAME", TARGET)
    secret_dns.inputs["content"] = {SECRET_SIG_KEY: SECRET_SIG, "value": TARGET}
    assert dns_through_tunnel([secret_dns]) == []
