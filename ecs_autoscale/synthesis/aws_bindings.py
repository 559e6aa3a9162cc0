"""Fast access to the jsii bindings of cdktf and the AWS provider (the only place that knows these tricks).

Python side: the package's `__init__` eagerly imports all 2,100+ resource modules (8-13 s), and
importing one submodule runs that `__init__` first. We register a bare package object in `sys.modules`
that only loads the jsii assembly (`_jsii`); submodules then import on demand from the real package
folder. Each submodule only needs `.._jsii`, cdktf and constructs, so the resource classes are the
very same ones.

Node side: loading the assembly makes jsii's Node kernel `require` the package's `lib/index.js`, whose
2,100+ `exports.x = require("./x")` lines compile every resource module (~2 s per run). When this
module starts the kernel, it gives the kernel's Node process a preload (`--require`, through
NODE_OPTIONS for that process only) that turns exactly those lines into getters requiring on first
use. Types are still found by the same path (`exports.sqsQueue.SqsQueue`), from the same code.

The Node-side preload relies on jsii's private kernel hooks: a jsii release without them is met with one
line on stderr and the standard (slower) start, never a traceback. This module also turns a Node.js
that is missing or fails to start into one clear NodeUnavailable error. (An optimized-bytecode loader
that skipped the bindings' duplicate Python type checks saved 0.12 s of 1.4 s and was removed, with
its benchmark bench_loader.py, in commit db34ba1: bench/README.md.)

tests/slow/test_aws_bindings.py proves the JSON is byte-identical to the standard import. Importing this
module does nothing but define; call `install_lazy_package()` before cdktf and before any
`cdktf_cdktf_provider_aws.*` import (before cdktf: the kernel starts with the first jsii assembly; if it
is already running, only the Python-side trick applies). `constructs/__init__.py` and `constructs/stack.py`
call it where they import cdktf, so importing them starts jsii's Node kernel; no other module does
(`synth.py` imports `constructs.stack` inside `synth()`, only when a stack needs synthesizing).
Set `ECS_AUTOSCALE_STANDARD_IMPORT=1` to fall back to the standard (slow) import: no lazy package,
no preload.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
import types
from pathlib import Path

from ..errors import EcsAutoscaleError

PACKAGE = "cdktf_cdktf_provider_aws"


class NodeUnavailable(EcsAutoscaleError, RuntimeError):
    """cdktf's jsii runtime (Node.js) could not start; the message says why and what to do."""


# Node 20 is end-of-life for jsii, which otherwise prints a banner on every run.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# Preloaded by the jsii kernel's Node processes. Only `lib/index.js` of the package named
# @cdktf/provider-aws is touched, and only lines of the exact namespace-export form; anything else
# (another layout in a future release) is left as is, which is merely slower.
LAZY_INDEX_PRELOAD = r"""'use strict';
// ecs-autoscale (ecs_autoscale/synthesis/aws_bindings.py): require @cdktf/provider-aws submodules on first use.
const Module = require('module');
const fs = require('fs');
const path = require('path');
const NAMESPACE_EXPORT = /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[\w.\/-]+)"\);$/gm;
function isProviderIndex(filename) {
  if (path.basename(filename) !== 'index.js' || path.basename(path.dirname(filename)) !== 'lib') return false;
  try {
    const manifest = path.join(path.dirname(filename), '..', 'package.json');
    return JSON.parse(fs.readFileSync(manifest, 'utf8')).name === '@cdktf/provider-aws';
  } catch (e) {
    return false;
  }
}
const compile = Module.prototype._compile;
Module.prototype._compile = function (content, filename) {
  if (typeof content === 'string' && typeof filename === 'string' && isProviderIndex(filename)) {
    content = content.replace(NAMESPACE_EXPORT, (line, name, request) =>
      'Object.defineProperty(exports, ' + JSON.stringify(name) + ', { enumerable: true, configurable: true, ' +
      'get: () => require(' + JSON.stringify(request) + ') });');
  }
  return compile.call(this, content, filename);
};
"""

lazy_index_active = False
"""True when this process's jsii kernel was started here, with LAZY_INDEX_PRELOAD (for tests)."""


def _node_quoted(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _start_kernel_with_lazy_index() -> bool:
    """Start jsii's Node kernel with the preload; False (nothing done) if it already runs, or if this
    jsii release no longer has the (private) hooks used here: then Node merely loads everything."""
    if any(name.endswith("._jsii") for name in sys.modules):  # a jsii assembly loaded: the kernel runs
        return False
    try:
        from jsii._runtime import kernel
    except ImportError:
        return _slow_path("jsii._runtime.kernel")
    provider = getattr(kernel, "provider", None)
    if provider is None:
        return _slow_path("jsii's kernel.provider")
    if not isinstance(inspect.getattr_static(type(provider), "_process", None), property):
        return _slow_path("jsii's kernel.provider._process")
    node = os.environ.get("JSII_NODE", "node")  # what jsii runs
    if shutil.which(node) is None:
        raise NodeUnavailable(
            f"Node.js ({node}) is not on PATH; cdktf needs it to synthesize: install Node.js "
            f"20 or newer (https://nodejs.org, or the nodejs package), or set JSII_NODE to it"
        )
    previous = os.environ.get("NODE_OPTIONS")
    with tempfile.TemporaryDirectory(prefix="ecs-autoscale-") as folder:
        preload = Path(folder, "lazy-provider-index.js")
        preload.write_text(LAZY_INDEX_PRELOAD)
        # The Python side copies os.environ when it spawns Node; set it just for that moment.
        os.environ["NODE_OPTIONS"] = f"{previous or ''} --require {_node_quoted(str(preload))}".strip()
        try:
            _ = provider._process  # spawns Node and waits for its handshake: the preload has run by now
        except (AttributeError, TypeError):
            # The hook is there but works otherwise in this jsii release (Node failing raises neither):
            # jsii starts Node itself on first use, without the preload.
            return _slow_path("working kernel.provider._process")
        except Exception as exc:
            _close_failed_node_processes()
            raise NodeUnavailable(
                f"Node.js ({node}) exited while starting cdktf's runtime (its own message is "
                f"above): check NODE_OPTIONS and JSII_NODE"
            ) from exc
        finally:
            if previous is None:
                del os.environ["NODE_OPTIONS"]
            else:
                os.environ["NODE_OPTIONS"] = previous
    return True


def _slow_path(missing: str, release: str = "jsii") -> bool:
    """One line, then the standard start: a jsii (or bindings) upgrade costs speed, never a traceback."""
    print(
        f"ecs-autoscale: this {release} release has no {missing} (a private hook of the fast provider loading); "
        "synthesizing without it, about 2 s slower",
        file=sys.stderr,
    )
    return False


def _close_failed_node_processes() -> None:
    """Close the stdin of a Node process that died during jsii's handshake, so jsii's own exit hook
    (which writes an exit request to it) ends quietly instead of printing a BrokenPipe traceback."""
    import gc

    try:
        from jsii._kernel.providers.process import _NodeProcess
    except ImportError:
        return  # another jsii layout: its exit hook may print more, the NodeUnavailable line still comes

    for obj in gc.get_objects():
        if isinstance(obj, _NodeProcess) and getattr(obj, "_process", None) is not None:
            try:
                obj._process.stdin.close()
            except OSError:
                pass  # the close still happened; only the flush of the unsent bytes failed


def install_lazy_package() -> types.ModuleType:
    """Make `import cdktf_cdktf_provider_aws.<module>` load only that module (idempotent)."""
    global lazy_index_active
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    if os.environ.get("ECS_AUTOSCALE_STANDARD_IMPORT") == "1":
        return importlib.import_module(PACKAGE)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{PACKAGE} is not installed; run `pip install -e .`")
    lazy_index_active = _start_kernel_with_lazy_index()
    package = types.ModuleType(
        PACKAGE, "Lazy stand-in for the provider bindings; see ecs_autoscale.synthesis.aws_bindings"
    )
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
    try:
        importlib.import_module(f"{PACKAGE}._jsii")  # loads the provider's jsii assembly into the kernel
    except ModuleNotFoundError as exc:
        del sys.modules[PACKAGE]
        if exc.name != f"{PACKAGE}._jsii":
            raise
        _slow_path(f"{PACKAGE}._jsii module", release="cdktf-cdktf-provider-aws")
        return importlib.import_module(PACKAGE)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return package
