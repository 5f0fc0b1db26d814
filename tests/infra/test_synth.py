"""`python -m infra.synth`: the documented command that writes the templates to a folder."""

from __future__ import annotations

import json

import pytest

from infra.synth import main


@pytest.mark.slow
def test_synth_writes_every_stacks_template_to_the_named_folder(tmp_path, capsys):
    out = tmp_path / "templates"
    assert main(["--out", str(out), "-c", "env_name=ci", "-c", "region=eu-west-1", "-c", "account=123456789012"]) == 0
    printed = capsys.readouterr().out.splitlines()
    names = ["Picaivid-ci-Base", "Picaivid-ci", "Picaivid-DevGpu-dev"]
    assert sorted(printed) == sorted(f"{n}: {out / (n + '.template.json')}" for n in names)
    main_template = json.loads((out / "Picaivid-ci.template.json").read_text())
    assert main_template["Outputs"]["Region"]["Value"] == "eu-west-1"
    subnets = [r["Properties"]["AvailabilityZone"] for r in main_template["Resources"].values() if r["Type"] == "AWS::EC2::Subnet"]
    assert sorted(set(subnets)) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@pytest.mark.parametrize("argument, message", [
    ("gpu_spot_max=lots", "not a valid int"),
    ("no_such_key=1", "unknown infra context keys: no_such_key"),
    ("novalue", "context must be key=value"),
])
def test_synth_refuses_bad_context_before_writing_anything(tmp_path, capsys, argument, message):
    assert main(["--out", str(tmp_path / "templates"), "-c", argument]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "templates").exists()
