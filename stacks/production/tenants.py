"""Tenant project "blog", declared as typed Python objects (the same models as enclii.yaml)."""

from enclii_iac.models.service import (
    BlueGreenStrategy,
    Deploy,
    Health,
    Metrics,
    Replicas,
    Resources,
    Route,
    ServiceSpec,
    ServiceType,
    Slo,
    Volume,
)
from enclii_iac.models.tenant import EnvironmentSpec, Member, ProjectSpec

REGISTRY = "ghcr.io/acme"

BLOG = ProjectSpec(
    environments={"prod": EnvironmentSpec(), "dev": EnvironmentSpec()},
    members=[Member(kind="User", name="editor@blog.example", role="admin")],
    services={
        "app": ServiceSpec(
            type=ServiceType.WEB,
            image=f"{REGISTRY}/blog@sha256:6d53095197e40ea188c6311b9cca0cc79189c8c20d1e99b4325888220b242fe2",
            port=8000,
            replicas=Replicas(min=2, max=4),
            health=Health(path="/health"),
            routes=[Route(host="blog.example.com", environments=["prod"])],
            deploy=Deploy(
                strategy="blue-green",
                blue_green=BlueGreenStrategy(
                    active="blue",
                    blue_image=f"{REGISTRY}/blog@sha256:6d53095197e40ea188c6311b9cca0cc79189c8c20d1e99b4325888220b242fe2",
                    green_image=f"{REGISTRY}/blog@sha256:22d9cb20080b6772dd68c9b14d6940b36114f1226c9bd2927ff06bbcbe660be2",
                ),
            ),
            slo=Slo(availability=99.9),
            metrics=Metrics(),
            depends_on=["search"],
        ),
        "search": ServiceSpec(
            type=ServiceType.TCP,
            image=f"{REGISTRY}/search@sha256:6f7233d354dbe673a86b437d6abafcfb8ccca93c977c4d921f0b0a580fc5e9db",
            port=7700,
            resources=Resources(cpu="250m", memory="512Mi", memory_limit="1Gi"),
            volumes=[Volume(name="index", mount_path="/var/lib/search", size="5Gi")],
        ),
    },
)

PYTHON_TENANTS = {"blog": BLOG}
