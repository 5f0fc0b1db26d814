"""One synthesis of the CDK app per session (jsii makes each one take seconds), shared by the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Synthesised:
    """The cloud assembly written for one context, and its templates as dicts."""

    directory: Path
    templates: dict[str, dict]


def synthesise(context: dict, out: Path) -> Synthesised:
    from infra.app import build_app

    assembly = build_app(context, out).synth()
    templates = {s.stack_name: json.loads((Path(assembly.directory) / s.template_file).read_text())
                 for s in assembly.stacks}
    return Synthesised(Path(assembly.directory), templates)


@pytest.fixture(scope="session")
def cfg():
    from infra.config import InfraConfig

    return InfraConfig()


@pytest.fixture(scope="session")
def synthesised(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    """The default context: placeholder account, no lookups, no credentials."""
    return synthesise({}, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def main_template(synthesised: Synthesised, cfg) -> dict:
    return synthesised.templates[cfg.main_stack_name]


@pytest.fixture(scope="session")
def dev_template(synthesised: Synthesised, cfg) -> dict:
    return synthesised.templates[cfg.dev_stack_name]
