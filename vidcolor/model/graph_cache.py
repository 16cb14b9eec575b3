"""Frozen inference graphs, kept in the user cache so that a colorizer starts without building its
Keras model: a graph whose weights are constants, as TensorFlow's GraphDef (protobuf bytes, never a
pickle), beside a JSON sidecar holding its key and the sha256 of its bytes.

A key names all the graph was made from: the weights' digest, the precision, the decoding, the
TensorFlow and Keras versions. An entry is used only when its sidecar's key is the one asked for,
its bytes have the digest the sidecar says, they parse, and the graph holds no stateful op (no file
writes, no Python calls); anything else is built again and written over (atomically), never trusted.

On a 2-core AMX machine, busy with other work, the shipped colorizer's graph read from the cache was
ready in 0.4 s and the embedder's in 0.3 s, where building the Keras models, loading their weights
and freezing them took 3.5-4.5 s and 1 s.
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

FORMAT = 1
KEEP = 12  # graphs kept in the cache (each is about the size of its weights file): the most recently used


@dataclass(frozen=True)
class Graph:
    """A frozen graph: its GraphDef's bytes and the names of the tensors it is fed and answers."""

    data: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


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
            graph = Graph(data, tuple(sidecar["inputs"]), tuple(sidecar["outputs"]))
            graph_def(graph)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with contextlib.suppress(OSError):  # a read-only cache is still read
            os.utime(sidecar_path)  # most recently used: kept longest
        return graph

    def save(self, key: dict, graph: Graph) -> None:
        """Keep `graph` under `key` (the graph, then its sidecar); a folder that cannot take it is warned of."""
        data_path, sidecar_path = self.paths(key)
        sidecar = {"key": key, "sha256": hashlib.sha256(graph.data).hexdigest(), "inputs": list(graph.inputs),
                   "outputs": list(graph.outputs)}
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


def graph_def(graph: Graph):
    """The GraphDef of `graph`; ValueError if it does not parse, is fed or answers by tensors it lacks,
    holds functions, or an op that is unknown or stateful (it would do more than compute)."""
    from google.protobuf.message import DecodeError

    from .tf_runtime import runtime

    tf = runtime()
    parsed = tf.graph_pb2.GraphDef()
    try:
        parsed.ParseFromString(graph.data)
    except DecodeError as exc:
        raise ValueError(f"not a GraphDef ({exc})") from None
    names = {node.name for node in parsed.node}
    for node in parsed.node:
        op = tf.op_def_registry.get(node.op)
        if op is None or op.is_stateful:
            raise ValueError(f"op {node.op} is not for an inference graph")
    if parsed.library.function or not all(t.split(":")[0] in names for t in graph.inputs + graph.outputs):
        raise ValueError("not the graph its sidecar describes")
    return parsed


def frozen(concrete) -> Graph:
    """A traced ConcreteFunction as a Graph whose variables are constants. The models it calls must
    still be alive (a function holds their variables only weakly): freeze it where they are in scope."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with _quiet_stderr():  # Grappler's C++ start-up notes, which TF_CPP_MIN_LOG_LEVEL does not reach
        constant = convert_variables_to_constants_v2(concrete)
    return Graph(constant.graph.as_graph_def().SerializeToString(), tuple(t.name for t in constant.inputs),
                 tuple(t.name for t in constant.outputs))


class GraphFunction:
    """A Graph, runnable: f(*inputs) -> its first output as a tensor; predict_on_batch(x) as a Keras model's.
    It runs on TensorFlow's runtime alone (tf_runtime.py): neither Keras nor TensorFlow's API is imported."""

    def __init__(self, graph: Graph):
        from .tf_runtime import runtime

        tf = runtime()
        parsed = graph_def(graph)
        nodes = {node.name: node for node in parsed.node}
        spec = [tf.tensor_spec.TensorSpec(tf.tensor_shape.TensorShape(nodes[name.split(":")[0]].attr["shape"].shape),
                                          tf.dtypes.float32) for name in graph.inputs]

        def run(*inputs):  # imported once, into this function's graph (lighter than wrap_function + prune)
            return tf.importer.import_graph_def(parsed, input_map=dict(zip(graph.inputs, inputs)),
                                                return_elements=list(graph.outputs), name="")

        self._function = tf.function.function(run, input_signature=spec).get_concrete_function()
        self._tensor = tf.tensor_conversion.convert_to_tensor_v2
        self._shapes = [t.shape for t in spec]
        self._warming: threading.Thread | None = None

    def __call__(self, *inputs):
        if self._warming is not None:
            self._warming.join()
        return self._run(inputs)

    def _run(self, inputs):
        return self._function(*(self._tensor(x, "float32") for x in inputs))[0]

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
            pass  # it parses but does not import as the graph its sidecar describes: made again
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
