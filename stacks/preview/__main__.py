"""A preview stack: the tenants of production (tenant files and tenants.py) in one preview-pr-<n> environment,
on the production cluster."""

import runpy
from pathlib import Path

import pulumi

from enclii_iac.platform import build_preview
from enclii_iac.stack import load_stack_settings

HERE = Path(__file__).parent
# Python tenants are previewed like YAML tenants: the same objects production declares
PYTHON_TENANTS = runpy.run_path(str(HERE.parent / "production" / "tenants.py"))["PYTHON_TENANTS"]

build_preview(
    load_stack_settings(HERE, python_tenants=PYTHON_TENANTS),
    production_stack=pulumi.Config("enclii").get("productionStack"),
)
