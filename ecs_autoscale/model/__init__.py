"""The model file and what it fixes: the YAML, the validated config, the names, the instance types,
the AMI and the scaling design. No cdktf, no boto3."""
