"""Infrastructure as code (AWS CDK, Python) and the Prefect work-pool templates. See infra/README.md."""

import os

# CDK runs on jsii's Node runtime; node 20 works but prints a large end-of-life banner on every import.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
