"""ValidatingAdmissionPolicies that keep tenants inside their namespaces, as plain data (pure, golden-tested).

The API server enforces them itself (CEL, admissionregistration.k8s.io/v1; no webhook, no controller to run
on a one-box platform). They bind to every tenant namespace (label ``enclii.dev/project``) and judge every
request there, the platform's own included, so what ``pulumi up`` declares passes the same rules.

What a namespace may claim is written on the namespace itself, by the platform, as annotations the policies
read through ``namespaceObject``:

- ``enclii.dev/allowed-hosts``: the hostnames (routes and custom domains) of that environment's services;
- ``enclii.dev/allowed-registries``: the image prefixes of ``policy.allowedRegistries`` (absent: any).

Why annotations and not a params object: tenants cannot write Namespaces (no tenant role can), while a params
ConfigMap in their own namespace would be theirs to edit, and a cluster-wide params object would need a CRD
and one object per namespace kept in step. The namespace is already the unit the platform declares.

Policies (each with a binding of the same name, ``validationActions: [Deny]``):

==========================================  ==================================================================
``enclii-tenant-ingress-hosts``             Ingress hosts and TLS hosts are the namespace's; no host-less rule,
                                            no defaultBackend (both would catch every host)
``enclii-tenant-ingressroute-hosts``        IngressRoute rules are exactly ``Host(`h`)`` or ``Host(`h`) &&
                                            PathPrefix(`/p`)`` with ``h`` the namespace's; services and
                                            middlewares only in the namespace; TLS domains the namespace's
``enclii-tenant-traefikservice-namespace``  TraefikService backends only in the namespace
``enclii-tenant-traefik-kinds``             no IngressRouteTCP/UDP (``HostSNI(`*`)`` takes a whole entry
                                            point), TLSStore, TLSOption or ServersTransport
``enclii-tenant-services``                  Services are ClusterIP: no NodePort, LoadBalancer, ExternalName,
                                            externalIPs
``enclii-tenant-endpoints``                 Endpoints and EndpointSlices only from Kubernetes' controllers
``enclii-tenant-rolebindings``              RoleBindings bind Roles (never ClusterRoles) to people and the
                                            namespace's own service accounts, never to ``system:`` identities
``enclii-tenant-registries-pods``,          images only from the allowed registries, for Pods, workloads
``-workloads``, ``-cronjobs``               (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job) and CronJobs
==========================================  ==================================================================

Unchanged objects pass (an UPDATE that leaves ``spec`` as it was, and anything being deleted), so an object
admitted before a rule changed can still be relabelled and finalized; the platform rewrites its own objects
in the same update as the namespace's annotations.
"""

from __future__ import annotations

from typing import Any

from enclii_iac import defaults
from enclii_iac.naming import label_key
from enclii_iac.render.kube import ALLOWED_HOSTS_ANNOTATION, ALLOWED_REGISTRIES_ANNOTATION

Manifest = dict[str, Any]

API_VERSION = "admissionregistration.k8s.io/v1"
TENANT_NAMESPACES = {"matchExpressions": [{"key": label_key("project"), "operator": "Exists"}]}
"""Every namespace of a tenant environment (only the platform labels namespaces)."""

ENDPOINT_WRITERS = (
    "system:serviceaccount:kube-system:endpoint-controller",
    "system:serviceaccount:kube-system:endpointslice-controller",
    "system:serviceaccount:kube-system:endpointslicemirroring-controller",
    "system:kube-controller-manager",
)
"""Who writes Endpoints and EndpointSlices: the controllers (with or without per-controller credentials)."""

HOST_RULE = r"^Host\(`[a-z0-9]([-a-z0-9.]*[a-z0-9])?`\)( && PathPrefix\(`/[A-Za-z0-9._~/-]*`\))?$"
"""The only IngressRoute ``match`` the platform writes (render.kube.traefik_route); anything else (``||``,
``HostRegexp``, a rule without Host) is refused."""

_CHANGED = "request.operation != 'UPDATE' || !has(oldObject.spec) || object.spec != oldObject.spec"
_NOT_DELETING = "!has(object.metadata.deletionTimestamp)"


def _annotation(key: str) -> str:
    return f"has(namespaceObject.metadata.annotations) && '{key}' in namespaceObject.metadata.annotations"


def _list(key: str) -> str:
    return (f"{_annotation(key)} ? namespaceObject.metadata.annotations['{key}'].split(',').filter(h, h != '') "
            ": []")


def _meta(name: str) -> Manifest:
    return {"name": name, "labels": {"app.kubernetes.io/managed-by": defaults.MANAGED_BY,
                                     "app.kubernetes.io/part-of": "enclii"}}


def _rules(groups: list[str], resources: list[str], operations: list[str] | None = None) -> list[Manifest]:
    return [{"apiGroups": groups, "apiVersions": ["*"], "resources": resources,
             "operations": operations or ["CREATE", "UPDATE"]}]


def _policy(name: str, rules: list[Manifest], validations: list[Manifest], *, variables: list[Manifest] | None = None,
            conditions: list[Manifest] | None = None) -> Manifest:
    spec: Manifest = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": rules},
    }
    if conditions:
        spec["matchConditions"] = conditions
    if variables:
        spec["variables"] = variables
    spec["validations"] = validations
    return {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicy", "metadata": _meta(name), "spec": spec}


def _v(expression: str, message: str | None = None, *, message_expression: str | None = None,
       reason: str = "Forbidden") -> Manifest:
    out: Manifest = {"expression": expression, "reason": reason}
    if message is not None:
        out["message"] = message
    if message_expression is not None:
        out["messageExpression"] = message_expression
    return out


_CHANGED_CONDITIONS = [
    {"name": "not-being-deleted", "expression": _NOT_DELETING},
    {"name": "spec-changed", "expression": _CHANGED},
]
_HOSTS_VAR = {"name": "allowed", "expression": _list(ALLOWED_HOSTS_ANNOTATION)}
_NS = "namespaceObject.metadata.name"


def ingress_hosts() -> Manifest:
    hosts_of = "object.spec.rules.filter(r, !has(r.host) || !(r.host in variables.allowed))"
    tls_of = ("object.spec.tls.filter(t, has(t.hosts)).map(t, t.hosts.filter(h, !(h in variables.allowed)))"
              ".filter(l, size(l) > 0).map(l, l.join(', '))")
    return _policy(
        "enclii-tenant-ingress-hosts",
        _rules(["networking.k8s.io"], ["ingresses"]),
        [
            _v("!has(object.spec.defaultBackend)",
               "spec.defaultBackend: a tenant Ingress may not set a default backend (it would answer every host)"),
            _v("!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && r.host in variables.allowed)",
               message_expression=(
                   f"'spec.rules[].host: ' + {hosts_of}.map(r, has(r.host) ? r.host : '(no host: every host)')"
                   f".join(', ') + ' is not a host of namespace ' + {_NS} + ' (allowed: ' + "
                   "(size(variables.allowed) == 0 ? 'none' : variables.allowed.join(', ')) + ')'")),
            _v("!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || "
               "t.hosts.all(h, h in variables.allowed))",
               message_expression=(f"'spec.tls[].hosts: ' + {tls_of}.join(', ') + ' is not a host of namespace ' + "
                                   f"{_NS}")),
        ],
        variables=[_HOSTS_VAR],
        conditions=_CHANGED_CONDITIONS,
    )


def ingressroute_hosts() -> Manifest:
    own = f"(!has(x.namespace) || x.namespace == {_NS})"
    return _policy(
        "enclii-tenant-ingressroute-hosts",
        _rules(["traefik.io", "traefik.containo.us"], ["ingressroutes"]),
        [
            _v(f"object.spec.routes.all(r, r.match.matches('{_cel(HOST_RULE)}') && "
               "r.match.split('`')[1] in variables.allowed)",
               message_expression=(
                   "'spec.routes[].match: ' + object.spec.routes.filter(r, !r.match.matches('"
                   f"{_cel(HOST_RULE)}') || !(r.match.split('`')[1] in variables.allowed)).map(r, r.match)"
                   ".join(', ') + ' is not Host(`<host>`) [&& PathPrefix(`<path>`)] with a host of namespace ' + "
                   f"{_NS}")),
            _v(f"object.spec.routes.all(r, (!has(r.services) || r.services.all(x, {own})) && "
               f"(!has(r.middlewares) || r.middlewares.all(x, {own})))",
               "spec.routes[].services, .middlewares: a tenant route reaches only its own namespace"),
            _v("!has(object.spec.tls) || !has(object.spec.tls.domains) || object.spec.tls.domains.all(d, "
               "(!has(d.main) || d.main in variables.allowed) && (!has(d.sans) || "
               "d.sans.all(h, h in variables.allowed)))",
               "spec.tls.domains: a tenant route may only ask certificates for its namespace's hosts"),
        ],
        variables=[_HOSTS_VAR],
        conditions=_CHANGED_CONDITIONS,
    )


def traefikservice_namespace() -> Manifest:
    own = f"(!has(x.namespace) || x.namespace == {_NS})"
    return _policy(
        "enclii-tenant-traefikservice-namespace",
        _rules(["traefik.io", "traefik.containo.us"], ["traefikservices"]),
        [
            _v(f"!has(object.spec.weighted) || !has(object.spec.weighted.services) || "
               f"object.spec.weighted.services.all(x, {own})",
               "spec.weighted.services[].namespace: a tenant split reaches only its own namespace"),
            _v(f"!has(object.spec.mirroring) || ((!has(object.spec.mirroring.namespace) || "
               f"object.spec.mirroring.namespace == {_NS}) && (!has(object.spec.mirroring.mirrors) || "
               f"object.spec.mirroring.mirrors.all(x, {own})))",
               "spec.mirroring: a tenant mirror reaches only its own namespace"),
        ],
        conditions=_CHANGED_CONDITIONS,
    )


def traefik_kinds() -> Manifest:
    return _policy(
        "enclii-tenant-traefik-kinds",
        _rules(["traefik.io", "traefik.containo.us"],
               ["ingressroutetcps", "ingressrouteudps", "tlsstores", "tlsoptions", "serverstransports",
                "serverstransporttcps"], ["CREATE"]),
        [_v("false", message_expression=(
            "'kind ' + object.kind + ': not in a tenant namespace (TCP/UDP routes take whole entry points, TLS "
            "stores and options and transports apply to every host)'"))],
    )


def services() -> Manifest:
    return _policy(
        "enclii-tenant-services",
        _rules([""], ["services"]),
        [
            _v("!has(object.spec.type) || object.spec.type == 'ClusterIP'",
               message_expression=("'spec.type: ' + object.spec.type + ' is not allowed for tenants (only ClusterIP: "
                                   "the tunnel is the only way in)'")),
            _v("!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
               "spec.externalIPs: tenant Services may not claim external addresses (the tunnel is the only way in)"),
        ],
        conditions=[{"name": "not-being-deleted", "expression": _NOT_DELETING}],
    )


def endpoints() -> Manifest:
    writers = ", ".join(f"'{w}'" for w in ENDPOINT_WRITERS)
    return _policy(
        "enclii-tenant-endpoints",
        _rules(["", "discovery.k8s.io"], ["endpoints", "endpointslices"]),
        [_v("false", message_expression=(
            "object.kind + ': written by Kubernetes from Service selectors only; a hand-written one could send a "
            "route to another namespace or to the node'"))],
        conditions=[{"name": "not-a-controller", "expression": f"!(request.userInfo.username in [{writers}])"},
                    {"name": "not-being-deleted", "expression": _NOT_DELETING}],
    )


def rolebindings() -> Manifest:
    return _policy(
        "enclii-tenant-rolebindings",
        _rules(["rbac.authorization.k8s.io"], ["rolebindings"]),
        [
            _v("object.roleRef.kind == 'Role'",
               "roleRef.kind: a tenant RoleBinding binds the environment's Roles, never a ClusterRole"),
            _v("!has(object.subjects) || object.subjects.all(s, s.kind == 'ServiceAccount' ? "
               f"(has(s.namespace) && s.namespace == {_NS}) : !s.name.lowerAscii().startsWith('system:'))",
               message_expression=(
                   "'subjects: ' + object.subjects.filter(s, s.kind == 'ServiceAccount' ? (!has(s.namespace) || "
                   f"s.namespace != {_NS}) : s.name.lowerAscii().startsWith('system:')).map(s, s.kind + ' ' + "
                   "s.name).join(', ') + ': tenants bind people, groups and their own service accounts, never "
                   "system: identities or other namespaces'")),
        ],
        conditions=[{"name": "not-being-deleted", "expression": _NOT_DELETING}],
    )


def _registries(name: str, resources: list[Manifest], spec: str) -> Manifest:
    pod = spec
    images = (f"{pod}.containers.map(c, c.image) + (has({pod}.initContainers) ? "
              f"{pod}.initContainers.map(c, c.image) : []) + (has({pod}.ephemeralContainers) ? "
              f"{pod}.ephemeralContainers.map(c, c.image) : [])")
    return _policy(
        name,
        resources,
        [_v("!variables.restricted || variables.images.all(i, variables.prefixes.exists(p, i.startsWith(p)))",
            message_expression=(
                "'image ' + variables.images.filter(i, !variables.prefixes.exists(p, i.startsWith(p))).join(', ') + "
                "' is not from an allowed registry (' + variables.prefixes.join(', ') + '; policy.allowedRegistries)'"
            ))],
        variables=[
            {"name": "restricted", "expression": _annotation(ALLOWED_REGISTRIES_ANNOTATION)},
            {"name": "prefixes", "expression": _list(ALLOWED_REGISTRIES_ANNOTATION)},
            {"name": "images", "expression": images},
        ],
        # only a changed pod template is judged again: scaling a ReplicaSet whose images were allowed when it was
        # created stays possible after the allow-list changes
        conditions=[
            {"name": "not-being-deleted", "expression": _NOT_DELETING},
            {"name": "pod-template-changed",
             "expression": f"request.operation != 'UPDATE' || {pod.replace('object.', 'oldObject.', 1)} != {pod}"},
        ],
    )


def registries() -> list[Manifest]:
    return [
        _registries("enclii-tenant-registries-pods", _rules([""], ["pods"]), "object.spec"),
        _registries("enclii-tenant-registries-workloads",
                    _rules(["apps"], ["deployments", "replicasets", "statefulsets", "daemonsets"])
                    + _rules(["batch"], ["jobs"]), "object.spec.template.spec"),
        _registries("enclii-tenant-registries-cronjobs", _rules(["batch"], ["cronjobs"]),
                    "object.spec.jobTemplate.spec.template.spec"),
    ]


def _cel(regex: str) -> str:
    """A regular expression as the body of a single-quoted CEL string."""
    return regex.replace("\\", "\\\\").replace("'", "\\'")


def policies() -> list[Manifest]:
    """Every tenant admission policy, in a stable order."""
    return [
        ingress_hosts(), ingressroute_hosts(), traefikservice_namespace(), traefik_kinds(), services(),
        endpoints(), rolebindings(), *registries(),
    ]


def binding(policy: Manifest) -> Manifest:
    """The policy's binding: every tenant namespace, deny on violation."""
    name = policy["metadata"]["name"]
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": _meta(name),
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": TENANT_NAMESPACES},
        },
    }


def manifests() -> list[Manifest]:
    """Policies and their bindings, each policy followed by its binding."""
    out: list[Manifest] = []
    for p in policies():
        out += [p, binding(p)]
    return out
