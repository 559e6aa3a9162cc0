"""Fast access to the `cdktf_cdktf_provider_aws` bindings (the only place that knows this trick).

The package's `__init__` eagerly imports all 2,100+ resource modules (8-13 s), and importing one
submodule runs that `__init__` first. We register a bare package object in `sys.modules` that only
loads the jsii assembly (`_jsii`, ~2 s, needed by every submodule); submodules then import on demand
from the real package folder. Each submodule only needs `.._jsii`, cdktf and constructs, so the
resource classes are the very same ones; tests/test_aws_bindings.py proves the JSON is byte-identical
to the standard import.

Import this module before any `cdktf_cdktf_provider_aws.*` import. Set
`ECS_AUTOSCALE_STANDARD_IMPORT=1` to fall back to the standard (slow) import.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types

PACKAGE = "cdktf_cdktf_provider_aws"
# Node 20 is end-of-life for jsii, which otherwise prints a banner on every run.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def install_lazy_package() -> types.ModuleType:
    """Make `import cdktf_cdktf_provider_aws.<module>` load only that module (idempotent)."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    if os.environ.get("ECS_AUTOSCALE_STANDARD_IMPORT") == "1":
        return importlib.import_module(PACKAGE)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{PACKAGE} is not installed; run `pip install -e .`")
    package = types.ModuleType(PACKAGE, "Lazy stand-in for the provider bindings; see ecs_autoscale.aws_bindings")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
    try:
        importlib.import_module(f"{PACKAGE}._jsii")  # loads the provider's jsii assembly into the kernel
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return package


install_lazy_package()
