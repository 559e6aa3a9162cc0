"""Baseline for bench_synth.py: the seed stack synthesized the usual cdktf way.

Standard imports of the provider bindings (`import cdktf_cdktf_provider_aws`, whose `__init__` imports
all 2,100+ resource modules, and whose jsii assembly makes Node load all of them too), then the very
same `VideoProcessingStack` in a cdktf App. ECS_AUTOSCALE_STANDARD_IMPORT=1 makes our constructs take
the standard import as well, so only the loading differs from `ecs-autoscale synth`.

    python bench/naive_synth.py examples/megadetector.yaml OUTDIR   # writes OUTDIR/stacks/<StackName>/cdk.tf.json
"""

import os
import sys

os.environ["ECS_AUTOSCALE_STANDARD_IMPORT"] = "1"

import cdktf_cdktf_provider_aws  # noqa: E402,F401  the standard import
from cdktf import App  # noqa: E402
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue  # noqa: E402,F401  as tutorials import resources

from ecs_autoscale.model.config import load_config  # noqa: E402
from ecs_autoscale.synthesis.constructs.stack import VideoProcessingStack  # noqa: E402


def main(model_file: str, outdir: str) -> None:
    app = App(outdir=outdir)
    VideoProcessingStack(app, load_config(model_file))
    app.synth()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
