"""A preview stack: the tenants of production in one preview-pr-<n> environment, on the production cluster."""

from pathlib import Path

import pulumi

from enclii_iac.platform import build_preview
from enclii_iac.stack import load_stack_settings

build_preview(
    load_stack_settings(Path(__file__).parent), production_stack=pulumi.Config("enclii").get("productionStack")
)
