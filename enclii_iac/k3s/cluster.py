"""K3sCluster: k3s on ClusterNodes (one server, or three plus agents), hardened, with snapshots to R2."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from enclii_iac import host_defaults as hd
from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.hetzner._command import remote
from enclii_iac.hetzner.node import ClusterNode
from enclii_iac.models.cluster import K3sClusterSpec, api_server_url
from enclii_iac.models.identity import OidcSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render import api_access as ra
from enclii_iac.render import host as r

TYPE_K3S_CLUSTER = type_token("K3sCluster")

_ENDPOINT = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")


@dataclass(frozen=True)
class EtcdS3Credentials:
    """Where etcd snapshots go and the scoped keys to write them (from the edge's R2 token).

    ``endpoint`` is a host without scheme (R2: ``<account id>.r2.cloudflarestorage.com``). The keys
    are treated as secrets whatever they are given as.
    """

    endpoint: str
    bucket: str
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    folder: str = hd.ETCD_S3_FOLDER


def upgrade_plans(spec: K3sClusterSpec) -> list[dict[str, Any]]:
    """system-upgrade-controller Plans moving servers, then agents, to the pinned version."""
    up = spec.upgrade
    window = {"days": list(up.window_days), "startTime": up.window_start, "endTime": up.window_end,
              "timeZone": "UTC"}
    meta = {"namespace": hd.SYSTEM_UPGRADE_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "enclii-iac"}}
    server: dict[str, Any] = {
        "apiVersion": "upgrade.cattle.io/v1",
        "kind": "Plan",
        "metadata": {"name": "k3s-server", **meta},
        "spec": {
            "concurrency": up.concurrency,
            "cordon": True,
            "serviceAccountName": "system-upgrade",
            "nodeSelector": {"matchExpressions": [
                {"key": "node-role.kubernetes.io/control-plane", "operator": "In", "values": ["true"]}]},
            "tolerations": [{"operator": "Exists"}],
            "upgrade": {"image": hd.K3S_UPGRADE_IMAGE},
            "version": spec.version,
            "window": window,
        },
    }
    plans = [server]
    if spec.agents:
        plans.append({
            "apiVersion": "upgrade.cattle.io/v1",
            "kind": "Plan",
            "metadata": {"name": "k3s-agent", **meta},
            "spec": {
                "concurrency": up.concurrency,
                "cordon": True,
                "serviceAccountName": "system-upgrade",
                "nodeSelector": {"matchExpressions": [
                    {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]},
                "prepare": {"image": hd.K3S_UPGRADE_IMAGE, "args": ["prepare", "k3s-server"]},
                "upgrade": {"image": hd.K3S_UPGRADE_IMAGE},
                "version": spec.version,
                "window": window,
            },
        })
    return plans


def system_upgrade_manifest_urls(version: str) -> dict[str, str]:
    """Pinned release URLs of the controller's CRD and deployment manifests."""
    return {key: hd.SYSTEM_UPGRADE_MANIFEST_URL.format(version=version, file=file)
            for key, file in (("crd", "crd.yaml"), ("controller", "system-upgrade-controller.yaml"))}


def _check(spec: K3sClusterSpec, nodes: Mapping[str, ClusterNode], etcd_s3: EtcdS3Credentials | None) -> None:
    issues: list[SpecIssue] = []
    for field, keys in (("servers", spec.servers), ("agents", spec.agents)):
        for i, key in enumerate(keys):
            if key not in nodes:
                issues.append(SpecIssue("", f"cluster.{field}[{i}]", f"no host {key!r} (hosts: {sorted(nodes)})"))
    kinds = {nodes[k].kind for k in spec.nodes if k in nodes}
    if len(kinds) > 1:
        issues.append(SpecIssue("", "cluster.agents", "a cluster cannot mix dedicated and cloud hosts yet (their "
                                                      "private traffic needs a Robot vSwitch)"))
    snaps = spec.etcd_snapshots
    if etcd_s3 is not None:
        if not _ENDPOINT.fullmatch(etcd_s3.endpoint):
            issues.append(SpecIssue("", "etcd_s3.endpoint", f"{etcd_s3.endpoint!r} must be a host name without "
                                                            "scheme or path (e.g. <account>.r2.cloudflarestorage.com)"))
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", etcd_s3.bucket):
            issues.append(SpecIssue("", "etcd_s3.bucket", f"{etcd_s3.bucket!r} is not a bucket name"))
        if snaps.bucket is not None and snaps.bucket != etcd_s3.bucket:
            issues.append(SpecIssue("", "cluster.etcdSnapshots.bucket",
                                    f"{snaps.bucket!r} differs from the credentials' bucket {etcd_s3.bucket!r}"))
        if etcd_s3.folder != snaps.folder:
            issues.append(SpecIssue("", "cluster.etcdSnapshots.folder",
                                    f"{snaps.folder!r} differs from the credentials' folder {etcd_s3.folder!r}"))
        if not snaps.enabled:
            issues.append(SpecIssue("", "cluster.etcdSnapshots.enabled",
                                    "snapshot credentials were given but snapshots are disabled"))
    elif snaps.bucket is not None:
        issues.append(SpecIssue("", "cluster.etcdSnapshots.bucket",
                                f"snapshots to {snaps.bucket!r} need credentials: pass etcd_s3=EtcdS3Credentials(...) "
                                "(the R2 token from the edge)"))
    if issues:
        raise SpecError(issues)


class K3sCluster(pulumi.ComponentResource):
    """A k3s cluster installed over SSH on ClusterNodes, with a Kubernetes provider for everything above it.

    Declares two random tokens (server and agent, secrets), one install step per node (servers in
    order, then agents; each after its host's hardening), a step reading the kubeconfig from the
    first server, the rewritten kubeconfig as a secret output, a ``pulumi_kubernetes.Provider`` and,
    when ``upgrade.enabled``, system-upgrade-controller and its Plans at the pinned version.

    >>> cluster = K3sCluster("enclii-k3s", K3sClusterSpec(servers=["ax41"]), nodes=hosts.nodes,
    ...                      etcd_s3=EtcdS3Credentials(endpoint=..., bucket="enclii-backups", ...))
    >>> TenantProject("shop", project_spec, provider=cluster.provider)
    """

    kubeconfig: pulumi.Output[str]
    api_server_url: pulumi.Output[str]
    node_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: K3sClusterSpec, opts: pulumi.ResourceOptions | None = None, *,
                 nodes: Mapping[str, ClusterNode], etcd_s3: EtcdS3Credentials | None = None,
                 api_tunnel_token: pulumi.Input[str] | None = None, oidc: OidcSpec | None = None,
                 protect: bool = False) -> None:
        """Install k3s on ``nodes`` and expose the kubeconfig and a Kubernetes provider.

        :param name: logical name; children are ``<name>-token``, ``-agent-token``, ``<name>-<node>-k3s``,
            ``-kubeconfig``, ``-provider`` (and the upgrade controller's, and ``<name>-<server>-api-connector``).
        :param args: the cluster spec (servers, agents, hardening, snapshots, upgrades, ``apiAccess``).
        :param opts: resource options; ``opts.providers`` may carry the random and command providers.
        :param nodes: the hosts by key (``Hosts.nodes``); every server and agent key must be one of them.
        :param etcd_s3: where etcd snapshots are copied and the scoped keys to write them (required when
            ``etcdSnapshots.bucket`` is set).
        :param api_tunnel_token: with ``apiAccess.mode: tunnel``, the API tunnel's connector token
            (``ClusterApiAccess.connector_token``); the connector is installed on every server.
        :param oidc: the API server's OIDC authenticator (``identity.oidc``): its flags go into every
            server's ``kube-apiserver-arg`` and its CA next to them; default: none (admin kubeconfig only).
        :param protect: protect the tokens and install steps (production).
        :raises SpecError: unknown node keys, mixed host kinds, snapshot credentials that disagree with the
            spec, a tunnel without its token; before anything is declared.
        """
        spec = args
        tunnel = spec.api_access.mode == "tunnel"
        if tunnel and api_tunnel_token is None:
            raise SpecError([SpecIssue("", "cluster.apiAccess.mode", "tunnel: pass api_tunnel_token="
                                       "ClusterApiAccess(...).connector_token (the connector runs on the servers)")])
        if not tunnel and api_tunnel_token is not None:
            raise SpecError([SpecIssue("", "cluster.apiAccess.mode",
                                       "api_tunnel_token is only used with mode: tunnel")])
        _check(spec, nodes, etcd_s3)
        super().__init__(TYPE_K3S_CLUSTER, name, None, opts)
        self.spec = spec
        self.oidc = oidc
        keep = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        self.token = random.RandomPassword(child_name(name, "token"), length=48, special=False, opts=keep)
        self.agent_token = random.RandomPassword(child_name(name, "agent-token"), length=48, special=False,
                                                 opts=keep)
        first = nodes[spec.servers[0]]
        join_url = first.internal_address.apply(lambda a: f"https://{_host(a)}:{hd.API_PORT}")
        fixed_url = api_server_url(spec)
        self.api_server_url = (pulumi.Output.from_input(fixed_url) if fixed_url is not None else
                               first.public_address.apply(lambda a: str(api_server_url(spec, a))))
        extra_exempt = [hd.SYSTEM_UPGRADE_NAMESPACE] if spec.upgrade.enabled else []
        s3_out: pulumi.Output[r.EtcdS3Settings | None]
        if etcd_s3 is not None:
            creds = etcd_s3
            s3_out = pulumi.Output.all(pulumi.Output.secret(creds.access_key_id),
                                       pulumi.Output.secret(creds.secret_access_key)).apply(
                lambda v: r.EtcdS3Settings(
                    endpoint=creds.endpoint, bucket=creds.bucket, folder=spec.etcd_snapshots.folder,
                    region=spec.etcd_snapshots.region,
                    bucket_lookup_type=spec.etcd_snapshots.bucket_lookup_type, access_key=str(v[0]),
                    secret_key=str(v[1])))
        else:
            s3_out = pulumi.Output.from_input(None)

        self.install_steps: dict[str, remote.Command] = {}
        self.install_scripts: dict[str, pulumi.Output[str]] = {}
        for key in spec.nodes:
            node = nodes[key]
            role: Literal["server", "agent"] = "server" if key in spec.servers else "agent"
            is_first = key == spec.servers[0]
            # servers join one after the other (etcd grows one member at a time); agents after all servers
            server_steps = [self.install_steps[s] for s in spec.servers if s in self.install_steps]
            after = server_steps[-1:] if role == "server" else server_steps
            render = self._renderer(key, role, is_first, extra_exempt)
            script: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(
                self.token.result, self.agent_token.result, node.internal_address, node.public_address,
                join_url, s3_out).apply(render))
            self.install_scripts[key] = script
            self.install_steps[key] = remote.Command(
                child_name(name, key, "k3s"),
                connection=node.connection,
                create=r.shell_for(node.user),
                stdin=script,  # no triggers: a changed script is an in-place update (protected in production)
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*node.ready, *after],
                                            protect=protect, retain_on_delete=protect),
            )
        self.connector_steps: dict[str, remote.Command] = {}
        if tunnel:
            assert api_tunnel_token is not None
            image = spec.api_access.connector_image
            connector: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.from_input(api_tunnel_token).apply(
                lambda t: ra.render_connector_script(token=str(t), image=image)))
            for key in spec.servers:
                node = nodes[key]
                self.connector_steps[key] = remote.Command(
                    child_name(name, key, "api-connector"),
                    connection=node.connection,
                    create=r.shell_for(node.user),
                    stdin=connector,
                    triggers=[connector.apply(r.sha256_hex)],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.install_steps[key]]),
                )
        first_step = self.install_steps[spec.servers[0]]
        self.kubeconfig_step = remote.Command(
            child_name(name, "kubeconfig"),
            connection=first.connection,
            create=r.kubeconfig_read_command(),
            triggers=[self.install_scripts[spec.servers[0]].apply(r.sha256_hex)],
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[first_step], additional_secret_outputs=["stdout"]),
        )
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(self.kubeconfig_step.stdout, self.api_server_url)
                                               .apply(lambda v: r.rewrite_kubeconfig(str(v[0] or ""), str(v[1]), name)))
        # clusterIdentifier: the provider is replaced (and every Kubernetes object with it) only if the cluster
        # itself changes, never because the kubeconfig's server moves (allowlist -> tunnel, a new apiEndpoint)
        self.provider = k8s.Provider(child_name(name, "provider"), kubeconfig=self.kubeconfig,
                                     cluster_identifier=name,
                                     opts=pulumi.ResourceOptions(parent=self,
                                                                 depends_on=list(self.connector_steps.values())))
        self.upgrade_resources: list[pulumi.Resource] = []
        if spec.upgrade.enabled:
            self._upgrades(name)
        self.node_names = pulumi.Output.from_input(list(spec.nodes))
        self.register_outputs({"kubeconfig": self.kubeconfig, "api_server_url": self.api_server_url,
                               "node_names": self.node_names})

    def _renderer(self, key: str, role: Literal["server", "agent"], is_first: bool,
                  extra_exempt: list[str]) -> Callable[[list[Any]], str]:
        def render(v: list[Any]) -> str:
            return self._script(key, role, is_first, token=str(v[0]), agent_token=str(v[1]), node_ip=str(v[2]),
                                external_ip=str(v[3]), join_url=str(v[4]), s3=v[5], extra_exempt=extra_exempt)

        return render

    def _script(self, key: str, role: Literal["server", "agent"], is_first: bool, *, token: str, agent_token: str,
                node_ip: str, external_ip: str, join_url: str, s3: r.EtcdS3Settings | None,
                extra_exempt: list[str]) -> str:
        spec = self.spec
        sans = [spec.api_endpoint] if spec.api_endpoint else []
        sans += [*spec.tls_sans, external_ip]
        node = r.K3sNodeConfig(
            name=key, role=role, node_ip=node_ip, external_ip=external_ip, init=is_first,
            join_url=None if is_first else join_url, tls_sans=tuple(dict.fromkeys(sans)),
            labels=spec.node_labels)
        oidc = self.oidc if role == "server" else None
        config = r.k3s_config(spec, node, token=token, agent_token=agent_token, etcd_s3=s3, oidc=oidc)
        return r.render_k3s_install_script(version=spec.version, role=role, config=config,
                                           hardening=spec.hardening, extra_exempt=extra_exempt,
                                           oidc_ca_pem=oidc.ca_pem if oidc is not None else None)

    def _upgrades(self, name: str) -> None:
        spec = self.spec
        urls = system_upgrade_manifest_urls(spec.upgrade.controller_version)
        base = pulumi.ResourceOptions(parent=self, providers=[self.provider], depends_on=[self.kubeconfig_step])
        crd = k8s.yaml.v2.ConfigFile(child_name(name, "suc-crd"), file=urls["crd"], opts=base)
        controller = k8s.yaml.v2.ConfigFile(
            child_name(name, "suc"), file=urls["controller"],
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[crd])))
        self.upgrade_resources = [crd, controller]
        for plan in upgrade_plans(spec):
            self.upgrade_resources.append(k8s.apiextensions.CustomResource(
                child_name(name, "plan", plan["metadata"]["name"].removeprefix("k3s-")),
                api_version=plan["apiVersion"], kind=plan["kind"], metadata=plan["metadata"], spec=plan["spec"],
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[controller])))


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
