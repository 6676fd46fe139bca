"""``python -m enclii_iac`` is ``enclii-iac``."""

from enclii_iac.cli import run

run()
