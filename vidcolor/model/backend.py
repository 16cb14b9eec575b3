"""The Keras backend as vidcolor uses it: importing Keras quietly, the GPUs it sees, the dtype
policy (precision) to run in, and TensorFlow's thread pool beside the film's other threads. With
TensorFlow, the GPUs and the thread pool are asked of its runtime alone (tf_runtime.py), without Keras.

The bottom of the model wing: it imports no other module of it but tf_runtime, and Keras only inside functions.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ModelError
from ..options import PRECISIONS

CPU_INFO = Path("/proc/cpuinfo")


# What TensorFlow and Keras import when it is installed, for what vidcolor never does with them: JAX for
# TensorFlow Lite's converter, IPython for Keras' notebook displays. Left out of that import (each is
# imported as usual afterwards), they took it from 4.5 to 3.5 s on a busy 2-core machine.
_OPTIONAL = ("jax", "IPython")


def import_keras():
    """Keras, imported the vidcolor way: TensorFlow's C++ start-up chatter (CUDA probing, oneDNN
    notes) is not for users, so it is silenced unless the user set TF_CPP_MIN_LOG_LEVEL, and its
    optional imports (_OPTIONAL) are left out where the backend is TensorFlow. Both only count before
    TensorFlow is first imported: every vidcolor path into Keras (building or loading a model, an
    embedder, training, looking for GPUs) comes through here first."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules:
        return sys.modules["keras"]
    left_out = [name for name in _OPTIONAL if name not in sys.modules] if _chosen_backend_is_tensorflow() else []
    sys.modules.update(dict.fromkeys(left_out))  # None: `import jax` raises ImportError, which they expect
    try:
        import keras
    finally:
        for name in left_out:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return keras


def _chosen_backend_is_tensorflow() -> bool:
    """Whether Keras will run on TensorFlow: $KERAS_BACKEND, else keras.json's setting, else its default."""
    return (os.environ.get("KERAS_BACKEND") or _keras_setting("backend") or "tensorflow") == "tensorflow"


def _keras_setting(name: str):
    """A setting of keras.json as Keras will read it when it starts (None where it has none)."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    for config in (home / "keras.json", Path("/tmp/.keras/keras.json")):  # Keras' own fallback folder
        try:
            return json.loads(config.read_text()).get(name)
        except (OSError, ValueError, AttributeError):
            continue
    return None


def global_dtype_policy() -> str:
    """The name of Keras' global dtype policy, which models are built in unless told otherwise; asked
    of keras.json (floatx) where Keras is not imported yet."""
    keras = sys.modules.get("keras")
    return keras.config.dtype_policy().name if keras is not None else _keras_setting("floatx") or "float32"


def tensorflow_backend() -> bool:
    """Whether Keras runs (or will run) on TensorFlow."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() == "tensorflow" if keras is not None else _chosen_backend_is_tensorflow()


def gpus() -> list:
    """The GPUs the Keras backend sees (TensorFlow uses one by itself when it sees it). With TensorFlow,
    asked of its runtime alone (tf_runtime.py): Keras is not imported for it."""
    if not tensorflow_backend():
        import_keras()
        import jax

        return [d for d in jax.devices() if d.platform == "gpu"]
    from .tf_runtime import runtime

    return runtime().config.list_physical_devices("GPU")


def gpu_capability(device) -> tuple[int, int] | None:
    """A GPU's CUDA compute capability as TensorFlow tells it ((0, 0) where it does not); None on
    another backend, which is not asked."""
    if not tensorflow_backend():
        return None
    from .tf_runtime import runtime

    return tuple(runtime().config.get_device_details(device).get("compute_capability") or (0, 0))


def cpu_flags() -> str:
    """The CPU's feature flags as /proc/cpuinfo lists them ("" where there is none to read)."""
    try:
        return CPU_INFO.read_text()
    except OSError:
        return ""


def choose_precision(requested: str = "auto") -> str:
    """The Keras dtype policy to run the model in.

    auto ($VIDCOLOR_PRECISION if set): on a GPU mixed_bfloat16 where it is native (compute
    capability 8.0 and up, or any GPU of a backend other than TensorFlow), else mixed_float16; on a
    CPU mixed_bfloat16 where it has bf16 instructions (AVX-512 BF16, AMX), else float32.
    """
    requested = requested if requested != "auto" else os.environ.get("VIDCOLOR_PRECISION", "auto")
    if requested not in PRECISIONS:
        raise ModelError(f"precision {requested!r}: must be one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    found = gpus()
    if found:
        capability = gpu_capability(found[0])
        return "mixed_float16" if capability is not None and capability < (8, 0) else "mixed_bfloat16"
    flags = cpu_flags()
    return "mixed_bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def share_cores() -> None:
    """On a CPU-only machine, leave one core out of TensorFlow's intra-op thread pool.

    The model runs beside threads that decode, smooth and encode. With a pool as large as
    the machine, each op split over the pool waits for its slowest part whenever another
    stage holds a core: on 2 cores, `bench/bench_remaster.py --sizes 480p` took 1.43x the reference
    transcode's time with a pool of one, 1.55x with TensorFlow's pool of two. Left alone on a GPU, where
    the user set TF_NUM_INTRAOP_THREADS, or once TensorFlow has started.
    """
    if not tensorflow_backend() or os.environ.get("TF_NUM_INTRAOP_THREADS") or gpus():
        return
    from .tf_runtime import runtime

    try:
        runtime().config.set_intra_op_parallelism_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    except RuntimeError:
        pass  # TensorFlow already started: its pool cannot change


def dtype_policy_of(model) -> str:
    """The dtype policy its layers compute in (inputs and nested models say float32 whatever they hold)."""
    import keras

    own = (layer for layer in model.layers if not isinstance(layer, (keras.layers.InputLayer, keras.Model)))
    return next(own).dtype_policy.name


def plain_policy(policy: str) -> str:
    """The dtype policy that computes like `policy`, its variables in the compute dtype."""
    return {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(policy, policy)
