"""Fixtures of the host/cluster component tests (the Recorder gives hcloud resources numeric ids)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import enclii_iac.hetzner  # noqa: F401  (registers hcloud computed outputs)
import enclii_iac.k3s  # noqa: F401  (registers the kubeconfig stand-in)
from enclii_iac.testing import Recorder


def make_recorder(stack: str = "test") -> Recorder:
    return Recorder(project="enclii", stack=stack)


@pytest.fixture
def run() -> Callable[[Callable[[], Any]], Recorder]:
    def _run(program: Callable[[], Any]) -> Recorder:
        return make_recorder().run(program)

    return _run
