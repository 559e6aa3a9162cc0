"""From a validated model to Terraform JSON. Plain-data builders live here (IAM statements, the
client policy, user data, addresses); every cdktf import is in `constructs/`, the one CDKTF boundary
(`synth.py` reaches cdktf only through `constructs.stack.synthesize`, imported when a stack is stale)."""
