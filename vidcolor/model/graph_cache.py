"""Frozen inference functions, kept in the user cache so that a colorizer starts without building its
Keras model: a function whose weights are constants, as TensorFlow's FunctionDef (protobuf bytes, never
a pickle), beside a JSON sidecar holding its key, the sha256 of its bytes and the shapes it is fed.

A key names all the function was made from: the weights' digest, the precision, the decoding, the
TensorFlow and Keras versions. An entry is used only when its sidecar's key is the one asked for,
its bytes have the digest the sidecar says, they parse, and the function holds no stateful op (no file
writes, no Python calls) and calls no other function; anything else is built again and written over
(atomically), never trusted.

A kept function is handed to TensorFlow's runtime as it is and run by name (no tf.function traces it
again), and on a CPU with only the graph rewrites that change its speed (constant folding and the
fusion of convolutions with their bias and activation; the others cost a first call 0.15 s and
gained nothing here). On a 2-core AMX machine that took a still end to end from 3.4-3.6 s to 2.4 s
(README, "Start-up and the graph cache").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import VidcolorWarning
from ..outputs import write_bytes, write_text

FORMAT = 2  # 1: GraphDefs, run through tf.function
KEEP = 12  # graphs kept in the cache (each is about the size of its weights file): the most recently used


@dataclass(frozen=True)
class Graph:
    """A frozen function: its FunctionDef's bytes and the shapes of the float32 tensors it is fed (None:
    any length); its first output is its answer."""

    data: bytes
    inputs: tuple[tuple[int | None, ...], ...]


def graph_key(**parts) -> dict:
    """A cache key: `parts` (what the graph was made from) and the versions that made it (asked without
    importing Keras, or TensorFlow's API)."""
    from importlib.metadata import version

    from .tf_runtime import runtime

    return {"format": FORMAT, "tensorflow": runtime().versions.VERSION, "keras": version("keras"), **parts}


def file_digest(path: str | Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class GraphStore:
    """Frozen graphs by key, in `folder` (default: graphs/ in the model cache, cache_folder.cache_dir)."""

    def __init__(self, folder: str | Path | None = None):
        self._folder = Path(folder) if folder is not None else None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            from .cache_folder import cache_dir

            self._folder = cache_dir() / "graphs"
        return self._folder

    def paths(self, key: dict) -> tuple[Path, Path]:
        """(the graph's file, its sidecar) for `key`."""
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return self.folder / f"{name}.pb", self.folder / f"{name}.json"

    def load(self, key: dict) -> Graph | None:
        """The graph kept under `key`, or None where there is none or it is not exactly what the key names."""
        data_path, sidecar_path = self.paths(key)
        try:
            sidecar = json.loads(sidecar_path.read_text())
            data = data_path.read_bytes()
            if sidecar["key"] != key or sidecar["sha256"] != hashlib.sha256(data).hexdigest():
                return None
            graph = Graph(data, tuple(tuple(shape) for shape in sidecar["inputs"]))
            function_def(graph)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with contextlib.suppress(OSError):  # a read-only cache is still read
            os.utime(sidecar_path)  # most recently used: kept longest
        return graph

    def save(self, key: dict, graph: Graph) -> None:
        """Keep `graph` under `key` (the graph, then its sidecar); a folder that cannot take it is warned of."""
        data_path, sidecar_path = self.paths(key)
        sidecar = {"key": key, "sha256": hashlib.sha256(graph.data).hexdigest(),
                   "inputs": [list(shape) for shape in graph.inputs]}
        try:
            data_path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(data_path, graph.data)
            write_text(sidecar_path, json.dumps(sidecar, indent=1))
            self._prune()
        except Exception as exc:  # a full disk, a read-only folder: the graph is there all the same
            reason = " ".join((getattr(exc, "strerror", None) or str(exc)).split())
            warnings.warn(f"{data_path.parent}: cannot keep the model's graph there ({reason}); it is built again "
                          "next time", VidcolorWarning, stacklevel=3)

    def _prune(self) -> None:
        """All but the KEEP most recently used graphs removed."""
        def used(path):
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

        for sidecar in sorted(self.folder.glob("*.json"), key=used, reverse=True)[KEEP:]:
            for path in (sidecar, sidecar.with_suffix(".pb")):
                path.unlink(missing_ok=True)


def function_def(graph: Graph):
    """The FunctionDef of `graph`; ValueError if it does not parse, is not fed as its shapes say, calls
    another function, or holds an op that is unknown or stateful (it would do more than compute)."""
    from google.protobuf.message import DecodeError

    from .tf_runtime import runtime

    tf = runtime()
    parsed = tf.function_pb2.FunctionDef()
    try:
        parsed.ParseFromString(graph.data)
    except DecodeError as exc:
        raise ValueError(f"not a FunctionDef ({exc})") from None
    signature = parsed.signature
    fed_floats = [arg.type == tf.dtypes.float32.as_datatype_enum for arg in signature.input_arg]
    if signature.is_stateful or not signature.output_arg or len(fed_floats) != len(graph.inputs) or not all(fed_floats):
        raise ValueError("not the function its sidecar describes")
    for node in parsed.node_def:
        op = tf.op_def_registry.get(node.op)
        if op is None or op.is_stateful or any(_calls(value) for value in node.attr.values()):
            raise ValueError(f"op {node.op} is not for an inference function")
    return parsed


def _calls(attr) -> bool:
    """Whether an op's attribute names a function (it would run what the entry does not hold)."""
    return attr.HasField("func") or bool(attr.HasField("list") and attr.list.func)


def frozen(concrete) -> Graph:
    """A traced ConcreteFunction as a Graph whose variables are constants. The models it calls must
    still be alive (a function holds their variables only weakly): freeze it where they are in scope."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with _quiet_stderr():  # Grappler's C++ start-up notes, which TF_CPP_MIN_LOG_LEVEL does not reach
        constant = convert_variables_to_constants_v2(concrete)
    return Graph(constant.function_def.SerializeToString(), tuple(tuple(t.shape.as_list()) for t in constant.inputs))


_ADDING = threading.Lock()


class GraphFunction:
    """A Graph, runnable: f(*inputs) -> its first output as a tensor; predict_on_batch(x) as a Keras model's.
    It runs on TensorFlow's runtime alone (tf_runtime.py): neither Keras nor TensorFlow's API is imported."""

    def __init__(self, graph: Graph):
        from .tf_runtime import runtime

        tf = runtime()
        parsed = function_def(graph)
        # named by its bytes: the same function kept twice is one function in the runtime
        parsed.signature.name = "vidcolor_" + hashlib.sha256(graph.data).hexdigest()[:32]
        self._context = tf.context.context()
        with _ADDING:
            if not self._context.has_function(parsed.signature.name):
                self._context.add_function_def(parsed)
        self._name, self._outputs = parsed.signature.name, len(parsed.signature.output_arg)
        self._attrs = ("executor_type", "", "config_proto", _rewrites(tf).SerializeToString())
        self._execute, self._tensor = tf.execute.execute, tf.tensor_conversion.convert_to_tensor_v2
        self._shapes = graph.inputs
        self._warming: threading.Thread | None = None

    def __call__(self, *inputs):
        if self._warming is not None:
            self._warming.join()
        return self._run(inputs)

    def _run(self, inputs):
        if len(inputs) != len(self._shapes):
            raise TypeError(f"the function takes {len(self._shapes)} inputs, not {len(inputs)}")
        tensors = [self._tensor(x, "float32") for x in inputs]
        return self._execute(self._name, num_outputs=self._outputs, inputs=tensors, attrs=self._attrs,
                             ctx=self._context)[0]

    def warm_up(self, side: int) -> None:
        """Ready it now, in the background: TensorFlow optimises a function's graph and lays out its kernels on
        its first call, whatever the input's size (0.4-0.9 s a graph on a busy 2-core machine, 20-40 ms for
        the call after it), so it is called once on zeros, one picture of side x side where a size is open.
        Its first call waits for that; a graph that cannot run says so then."""
        import numpy as np

        zeros = [np.zeros([1 if i == 0 and d is None else side if d is None else d for i, d in enumerate(shape)],
                          np.float32) for shape in self._shapes]

        def call():
            with contextlib.suppress(Exception):  # the first real call meets the same fault, and tells it
                self._run(zeros)

        self._warming = threading.Thread(target=call, name="vidcolor graph warm-up")  # joined at exit: no daemon
        self._warming.start()

    def predict_on_batch(self, batch):
        import numpy as np

        return np.asarray(self(batch))


def cached_function(store: GraphStore | None, key: dict, build: Callable[[], Graph]) -> GraphFunction:
    """The graph kept under `key`, runnable; else build()'s (frozen() of a function it traces), kept
    (where there is a store) and run from the same bytes, so that colours never depend on the cache."""
    from .tf_runtime import runtime

    kept = store.load(key) if store is not None else None
    if kept is not None:
        try:
            return GraphFunction(kept)
        except (ValueError, TypeError, KeyError, runtime().errors.OpError):
            pass  # it parses but the runtime does not take it: made again
    graph = build()
    if store is not None:
        store.save(key, graph)
    return GraphFunction(graph)


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null for a while (C++ code writes there directly); Python errors still rise."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _rewrites(tf):
    """The session options a function is run with: TensorFlow's own, with on a CPU only the graph
    rewrites that make it faster there (module notes); a GPU gets them all (its layouts, among others)."""
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

    from .backend import gpus

    config = config_pb2.ConfigProto()
    config.CopyFrom(tf.context.context().config)
    config.allow_soft_placement = True  # as tf.function's calls have it
    if not gpus():
        rewrites, off = config.graph_options.rewrite_options, rewriter_config_pb2.RewriterConfig.OFF
        for name in ("layout_optimizer", "shape_optimization", "arithmetic_optimization", "dependency_optimization",
                     "loop_optimization", "function_optimization", "debug_stripper", "common_subgraph_elimination",
                     "implementation_selector", "pin_to_host_optimization", "scoped_allocator_optimization"):
            setattr(rewrites, name, off)
        rewrites.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
        rewrites.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    return config
