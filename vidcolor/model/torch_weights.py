"""Read a legacy (pre-zip) PyTorch state-dict file into numpy arrays, safely.

A .pth file is a pickle, and a pickle can run any code it names. This reader
admits only the few globals a plain state dict needs (the tensor-rebuild
function, the float and long storage types, OrderedDict) and maps each to a
harmless stand-in, so the file can describe tensors but never run anything.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from pathlib import Path

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "HalfStorage": np.float16,
    "DoubleStorage": np.float64,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
    def __init__(self, dtype: type, key: str):
        self.dtype = dtype
        self.key = key
        self.array: np.ndarray | None = None


class _TensorRef:
    """Where a tensor's values lie; filled in once the storages are read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.array
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=[s * itemsize for s in self.stride]
        )
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None):
    return _TensorRef(storage, storage_offset, size, stride)


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _STORAGE_DTYPES[name]


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type.dtype, key)
        return self._storages[key]


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a legacy-format PyTorch state dict, as numpy arrays."""
    data = Path(path).read_bytes()
    stream = io.BytesIO(data)
    storages: dict[str, _Storage] = {}

    def next_pickle():
        return _SafeUnpickler(stream, storages).load()

    if next_pickle() != _LEGACY_MAGIC:
        raise ValueError(f"{path}: not a legacy PyTorch weights file")
    next_pickle()  # protocol version
    next_pickle()  # system info
    state = next_pickle()
    keys = next_pickle()
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", stream.read(8))
        nbytes = count * np.dtype(storage.dtype).itemsize
        storage.array = np.frombuffer(stream.read(nbytes), dtype=storage.dtype, count=count)
    return {name: ref.to_numpy() for name, ref in state.items() if isinstance(ref, _TensorRef)}
