"""Write the synthesised CloudFormation templates to a folder, with no AWS credentials or lookups.

    python -m infra.synth --out cdk.out [-c key=value ...]

The folder is a CDK cloud assembly: `<stack>.template.json` per stack, deployable with
`cdk deploy --app cdk.out <stack>`. Context keys are the fields of `infra.config.InfraConfig`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.app import CONTEXT_KEYS, build_app


def parse_context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"context must be key=value, got {pair!r}")
        context[key.strip()] = value.strip()
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("cdk.out"), help="folder for the templates (default: cdk.out)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help=f"context value; keys: {', '.join(CONTEXT_KEYS)}")
    args = parser.parse_args(argv)
    try:
        assembly = build_app(parse_context(args.context), args.out).synth()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for stack in assembly.stacks:
        print(f"{stack.stack_name}: {Path(assembly.directory) / stack.template_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
