"""The instance agent that runs on every GPU instance (see instance_agent.py; stdlib only, no package imports)."""
