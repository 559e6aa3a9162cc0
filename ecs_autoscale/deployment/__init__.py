"""One stack's Terraform workspace: plan, apply, outputs, adoption, destroy. Never imports the client."""
