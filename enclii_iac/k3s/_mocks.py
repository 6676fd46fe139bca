"""Deterministic stand-in, under Pulumi mocks, for the kubeconfig K3sCluster reads from its first server.

Registered into :data:`enclii_iac.testing.COMPUTED_OUTPUTS` when :mod:`enclii_iac.k3s` is imported:
the ``remote.Command`` that runs ``sudo -n cat /etc/rancher/k3s/k3s.yaml`` gets this YAML as stdout
(any other Command keeps what earlier registrations give it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from enclii_iac import testing
from enclii_iac.render.host import kubeconfig_read_command

COMMAND_TYPE = "command:remote:Command"

FAKE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: TU9DSy1DQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {}
users:
- name: default
  user:
    client-certificate-data: TU9DSy1DRVJU
    client-key-data: TU9DSy1LRVk=
"""
"""What k3s writes to /etc/rancher/k3s/k3s.yaml, with fake credentials."""


def _wrap(previous: Callable[[str, dict[str, Any]], dict[str, Any]] | None
          ) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    def compute(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        out = dict(previous(name, inputs)) if previous is not None else {}
        if inputs.get("create") == kubeconfig_read_command():
            out["stdout"] = FAKE_KUBECONFIG
        return out

    _ours.append(compute)
    return compute


_ours: list[Callable[[str, dict[str, Any]], dict[str, Any]]] = []
"""The stand-ins this module registered (so install() recognises its own entry)."""


def install() -> None:
    """Register the stand-in (idempotent; chains to an entry another module registered first)."""
    current = testing.COMPUTED_OUTPUTS.get(COMMAND_TYPE)
    if current is not None and any(current is f for f in _ours):
        return
    testing.COMPUTED_OUTPUTS[COMMAND_TYPE] = _wrap(current)
