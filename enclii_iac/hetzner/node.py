"""What the cluster layer needs from a host: how to reach it, its addresses, and when it is ready."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi

from enclii_iac import host_defaults as hd
from enclii_iac.hetzner._command import remote


@dataclass(frozen=True)
class ClusterNode:
    """A host ready for k3s: produced by DedicatedHost and CloudServer, consumed by K3sCluster.

    ``ready`` lists the resources that must exist before k3s is installed (the hardening step of a
    dedicated host; the server and its network attachment for a cloud server).
    """

    key: str
    kind: Literal["dedicated", "cloud"]
    connection: remote.ConnectionArgs
    user: str
    public_address: pulumi.Output[str]
    internal_address: pulumi.Output[str]
    ready: Sequence[pulumi.Resource]


def ssh_connection(*, host: pulumi.Input[str], user: str, private_key: pulumi.Input[str],
                   host_key: pulumi.Input[str], port: int = hd.SSH_PORT) -> remote.ConnectionArgs:
    """SSH connection with the host key pinned (verification on) and the private key as a secret."""
    return remote.ConnectionArgs(
        host=host,
        port=port,
        user=user,
        private_key=pulumi.Output.secret(private_key),
        host_key=host_key,
        dial_error_limit=hd.SSH_DIAL_ERROR_LIMIT,
        per_dial_timeout=15,
    )
