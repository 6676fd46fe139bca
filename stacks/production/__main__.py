"""The production stack: the platform spec in platform.yaml, tenants from tenants/*.yaml and tenants.py."""

from pathlib import Path

from tenants import PYTHON_TENANTS

from enclii_iac.platform import build_production
from enclii_iac.stack import load_stack_settings

build_production(load_stack_settings(Path(__file__).parent, python_tenants=PYTHON_TENANTS))
