"""DedicatedHost: an adopted dedicated server (the AX41), hardened over SSH in idempotent steps."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from enclii_iac import host_defaults as hd
from enclii_iac.hetzner._command import remote
from enclii_iac.hetzner.node import ClusterNode, ssh_connection
from enclii_iac.models.host import DedicatedHostSpec
from enclii_iac.naming import child_name, type_token
from enclii_iac.render import host as r

TYPE_DEDICATED_HOST = type_token("DedicatedHost")


class DedicatedHost(pulumi.ComponentResource):
    """A dedicated server ordered outside any API, adopted and hardened over SSH.

    Two steps, each a ``remote.Command`` whose script is sent on stdin and whose trigger is the
    sha256 of that script, so a step re-runs exactly when what it applies changes:

    1. ``<name>-admin`` (as ``bootstrapUser``): the admin user, its keys and its sudo rule.
    2. ``<name>-harden`` (as the admin user, through sudo): packages, sshd, kernel parameters,
       the nftables firewall and unattended upgrades.

    No step has a ``delete`` command: destroying the stack leaves the server as it is.

    >>> host = DedicatedHost("ax41", spec.hosts.dedicated["ax41"], ssh_private_key=key, protect=True)
    >>> host.node  # handed to K3sCluster
    """

    address: pulumi.Output[str]
    node_name: pulumi.Output[str]
    admin_user: pulumi.Output[str]

    def __init__(self, name: str, args: DedicatedHostSpec, opts: pulumi.ResourceOptions | None = None, *,
                 ssh_private_key: pulumi.Input[str], node_name: str | None = None,
                 peers: Sequence[str] = (), cluster_cidr: str = hd.CLUSTER_CIDR, protect: bool = False) -> None:
        """Declare the admin and hardening steps of an adopted dedicated server.

        :param name: logical name; the steps are ``<name>-admin`` and ``<name>-harden``.
        :param args: the dedicated host spec (address, pinned host key, allow-lists, ...).
        :param opts: resource options; ``opts.providers`` may carry the command provider.
        :param ssh_private_key: the deploy key Pulumi logs in with (a secret).
        :param node_name: the host key in the spec (node name). Default: ``name``.
        :param peers: addresses of the other cluster nodes the firewall admits on the k3s ports.
        :param cluster_cidr: the pod range the firewall admits.
        :param protect: protect the steps (production): ``pulumi destroy`` stops until they are unprotected.
        """
        super().__init__(TYPE_DEDICATED_HOST, name, None, opts)
        spec = args
        key = node_name or name
        self.spec = spec
        self.files = r.dedicated_hardening_files(key, spec, peers=peers, cluster_cidr=cluster_cidr)
        self.admin_script = r.render_admin_script(spec.admin_user, spec.admin_ssh_keys)
        self.harden_script = r.render_harden_script(self.files)
        self.inbound_rules = r.dedicated_inbound_rules(spec, peers)

        bootstrap = ssh_connection(host=spec.address, user=spec.bootstrap_user, private_key=ssh_private_key,
                                   host_key=spec.host_key, port=spec.ssh_port)
        self.connection = ssh_connection(host=spec.address, user=spec.admin_user, private_key=ssh_private_key,
                                         host_key=spec.host_key, port=spec.ssh_port)
        # No ``triggers``: pulumi-command replaces a step whose triggers change, and Pulumi refuses to replace a
        # protected resource, so a production host could never take a new script. A changed ``stdin`` is an
        # update instead, which runs ``create`` again (both scripts are idempotent).
        self.admin_step = remote.Command(
            child_name(name, "admin"),
            connection=bootstrap,
            create=r.shell_for(spec.bootstrap_user),
            stdin=self.admin_script,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        self.harden_step = remote.Command(
            child_name(name, "harden"),
            connection=self.connection,
            create=r.shell_for(spec.admin_user),
            stdin=self.harden_script,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.admin_step], protect=protect,
                                        retain_on_delete=protect),
        )
        self.address = pulumi.Output.from_input(spec.address)
        self.node_name = pulumi.Output.from_input(key)
        self.admin_user = pulumi.Output.from_input(spec.admin_user)
        self.node = ClusterNode(
            key=key, kind="dedicated", connection=self.connection, user=spec.admin_user,
            public_address=self.address, internal_address=self.address, ready=[self.harden_step],
        )
        self.register_outputs({"address": self.address, "node_name": self.node_name, "admin_user": self.admin_user})
