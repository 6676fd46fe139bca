"""A tenant project on a Kubernetes cluster you already have.

One TenantProject with a prod and a dev environment: a namespace each (Pod Security "restricted",
default-deny NetworkPolicies, quota, RBAC), a web service with a route, autoscaling and a secret, and a
worker. The Kubernetes provider is yours: build it from your kubeconfig, enclii_iac never falls back to the
ambient ~/.kube/config.
"""

import pulumi
import pulumi_kubernetes as k8s

from enclii_iac import (
    Autoscale,
    EnvironmentSpec,
    Health,
    Member,
    ProjectSpec,
    Replicas,
    Route,
    ServiceSpec,
    TenantProject,
)
from enclii_iac.stack import require_secret

IMAGE = "ghcr.io/acme/shop-api@sha256:982d4486a936e2e63d7985287730247ad18514560524c8e0f7cc769dcea7dec8"

provider = k8s.Provider(
    "cluster",
    kubeconfig=require_secret("kubeconfig", "pulumi config set --secret kubeconfig < ~/.kube/config"),
    enable_server_side_apply=True,
)

shop = ProjectSpec(
    environments={"prod": EnvironmentSpec(), "dev": EnvironmentSpec()},
    members=[Member(kind="Group", name="shop-owners", role="owner")],
    services={
        "api": ServiceSpec(
            image=IMAGE,
            port=8080,
            replicas=Replicas(min=2, max=6),
            autoscale=Autoscale(target_cpu=70),
            health=Health(path="/healthz"),
            secrets=["DATABASE_URL"],
            routes=[Route(host="api.shop.example.com", environments=["prod"])],
        ),
        "worker": ServiceSpec(type="worker", image=IMAGE, command=["./worker"], secrets=["DATABASE_URL"]),
    },
)

database_url = require_secret("databaseUrl", "pulumi config set --secret databaseUrl 'postgres://...'")
project = TenantProject(
    "shop",
    shop,
    provider=provider,
    secret_values={"api": {"DATABASE_URL": database_url}, "worker": {"DATABASE_URL": database_url}},
)
pulumi.export("namespaces", project.namespaces)
