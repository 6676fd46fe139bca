"""TenantAdmission: the cluster's ValidatingAdmissionPolicies that keep every tenant inside its namespace.

Declared once per cluster, by the stack that owns the cluster (``EncliiPlatform`` in a production stack;
preview stacks share production's cluster and its policies). The manifests are the pure
:func:`enclii_iac.render.admission.manifests`; what each namespace may claim is on the namespace itself
(annotations written by ``TenantEnvironment``).

    admission = TenantAdmission("enclii-admission", provider=cluster.provider, protect=True)
    TenantProject("shop", spec, provider=cluster.provider, admission=admission)
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import providers
from enclii_iac.naming import child_name, type_token
from enclii_iac.render import admission as a

TYPE_TENANT_ADMISSION = type_token("TenantAdmission")


class TenantAdmission(pulumi.ComponentResource):
    """One ValidatingAdmissionPolicy and one binding per rule of :mod:`enclii_iac.render.admission`.

    Children are ``<name>-<policy>`` and ``<name>-<policy>-binding`` (policy names without the
    ``enclii-tenant-`` prefix). Protected in production: deleting them would quietly lift the isolation.
    """

    policy_names: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: k8s.Provider | None = None,
        protect: bool = False,
    ) -> None:
        """Declare every tenant admission policy and its binding.

        :param name: logical name; children are ``<name>-<rule>`` and ``<name>-<rule>-binding``.
        :param opts: resource options; ``opts.providers`` may carry the Kubernetes provider.
        :param provider: the cluster's Kubernetes provider (default: the one in ``opts.providers``; required).
        :param protect: protect the policies and bindings (production).
        """
        provider = providers.require(provider, opts, "kubernetes", component="TenantAdmission", argument="provider")
        super().__init__(TYPE_TENANT_ADMISSION, name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, provider=provider, protect=protect)
        self.policies: dict[str, k8s.admissionregistration.v1.ValidatingAdmissionPolicy] = {}
        self.bindings: dict[str, k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding] = {}
        for policy in a.policies():
            full = policy["metadata"]["name"]
            key = full.removeprefix("enclii-tenant-")
            self.policies[full] = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                child_name(name, key), metadata=policy["metadata"], spec=policy["spec"], opts=keep
            )
            binding = a.binding(policy)
            self.bindings[full] = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                child_name(name, key, "binding"),
                metadata=binding["metadata"],
                spec=binding["spec"],
                opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=[self.policies[full]])),
            )
        self.policy_names = pulumi.Output.from_input(sorted(self.policies))
        self.register_outputs({"policy_names": self.policy_names})

    @property
    def ready(self) -> list[pulumi.Resource]:
        """The bindings: tenant access is granted only once they are in place."""
        return list(self.bindings.values())
