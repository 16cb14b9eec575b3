"""TensorFlow's runtime without its Python API: all that running a frozen function (graph_cache.py) and
asking for GPUs take, imported in less than half the time of `import tensorflow`.

`import tensorflow` runs tensorflow/__init__.py, which imports its whole public API (distribution
strategies, feature columns, Keras...) before anything runs: 2.7 s on a busy 2-core machine, where
the modules a frozen graph runs on (framework, eager) took 1.4 s. `runtime()` imports those with the
package `tensorflow` in place but its __init__.py not yet run. The package is the real one, only
unfinished: the first attribute asked of it that it lacks (`tf.constant`, Keras importing it) runs
its __init__.py in it (PEP 562's module __getattr__), so that any later `import tensorflow` gets
the whole of it as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from types import ModuleType, SimpleNamespace

_LOCK = threading.RLock()

# name in runtime(): the module of TensorFlow's runtime that holds it
_MODULES = {
    "function_pb2": "tensorflow.core.framework.function_pb2",
    "context": "tensorflow.python.eager.context",
    "execute": "tensorflow.python.eager.execute",
    "tensor_conversion": "tensorflow.python.framework.tensor_conversion",
    "constant_op": "tensorflow.python.framework.constant_op",  # what converts NumPy arrays to tensors
    "dtypes": "tensorflow.python.framework.dtypes",
    "errors": "tensorflow.python.framework.errors_impl",
    "op_def_registry": "tensorflow.python.framework.op_def_registry",
    "config": "tensorflow.python.framework.config",
    "versions": "tensorflow.python.framework.versions",
}


def runtime() -> SimpleNamespace:
    """TensorFlow's runtime modules by the names of _MODULES (imported once, without TensorFlow's API
    where that is not imported yet). TensorFlow's C++ start-up notes are silenced as import_keras does."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _LOCK:
        fresh = "tensorflow" not in sys.modules
        if fresh:
            sys.modules["tensorflow"] = _unfinished_package()
        try:
            if fresh:
                importlib.import_module("tensorflow.python.tf2").enable()  # as its __init__.py does, first
            modules = SimpleNamespace(**{name: importlib.import_module(module) for name, module in _MODULES.items()})
            if fresh:  # eager execution, as its __init__.py turns it on once its modules are in
                importlib.import_module("tensorflow.python.compat.v2_compat").enable_v2_behavior()
        except BaseException:
            if fresh and unfinished():
                del sys.modules["tensorflow"]
            raise
        return modules


def unfinished() -> bool:
    """Whether `tensorflow` is imported without its API (runtime()) and nothing has asked for that yet."""
    package = sys.modules.get("tensorflow")
    return package is not None and getattr(package, "_vidcolor_unfinished", False)


def _unfinished_package() -> ModuleType:
    """The package `tensorflow`, its __init__.py not run until an attribute it lacks is asked for."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None:
        raise ImportError("No module named 'tensorflow'")
    package = importlib.util.module_from_spec(spec)

    def finish(name: str):
        with _LOCK:
            if package.__dict__.get("__getattr__") is finish:
                del package.__getattr__, package._vidcolor_unfinished
                spec.loader.exec_module(package)  # as `import tensorflow` would have run it, in the same module
        return getattr(package, name)

    package.__getattr__ = finish
    package._vidcolor_unfinished = True
    return package
