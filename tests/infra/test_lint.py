"""cfn-lint accepts every synthesised template (errors and warnings; W3010 is waived in the templates)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_every_template_passes_cfn_lint(synthesised, cfg):
    from cfnlint.api import ManualArgs, lint_file

    templates = sorted(synthesised.directory.glob("*.template.json"))
    assert {t.name for t in templates} == {f"{name}.template.json" for name in synthesised.templates}
    for template in templates:
        matches = lint_file(template, ManualArgs(regions=[cfg.region]))
        assert not matches, f"{template.name}:\n" + "\n".join(str(m) for m in matches)
