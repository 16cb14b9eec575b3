"""The Deep Koalarization colorizer (Keras 3), its config, and loading a weights file.

Encoder (L* -> H/8 x W/8 x 256), fusion with a 1000-d ImageNet embedding tiled
over the grid, decoder up to H/2 x W/2. The paper's last nearest x2 upsampling
is left to the pipeline's edge-aware upsampler, which goes from H/2 straight to
full resolution guided by the original lightness.

Two output heads share that body:
- ``regression``: tanh a*b* scaled to [-1, 1], trained with MSE (the paper);
- ``classification``: logits over quantised a*b* bins, trained with rebalanced
  cross-entropy and decoded with the annealed mean (Zhang et al. 2016).

A weights file ``NAME.weights.h5`` travels with ``NAME.json`` (a ModelConfig),
so a file rebuilds its own model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
from keras import layers

from .color import AB_SCALE, scale_lightness
from .errors import ModelError

HEADS = ("regression", "classification")
WEIGHTS_NAME = "vidcolor.weights.h5"


def default_weights() -> Path:
    """The shipped model: $VIDCOLOR_WEIGHTS, else weights/ of a source checkout, else the installed copy."""
    import sys

    if os.environ.get("VIDCOLOR_WEIGHTS"):
        return Path(os.environ["VIDCOLOR_WEIGHTS"])
    checkout = Path(__file__).resolve().parent.parent / "weights" / WEIGHTS_NAME
    installed = Path(sys.prefix) / "share" / "vidcolor" / "weights" / WEIGHTS_NAME
    return checkout if checkout.is_file() or not installed.is_file() else installed


@dataclass
class ModelConfig:
    embedder: str = "efficientnet_lite0"
    head: str = "classification"
    embedding_size: int = 1000
    lightness_scaling: str = "L/50-1"
    ab_scaling: float = AB_SCALE
    bins: list = field(default_factory=list)  # (Q, 2) a*b* centres, classification only
    bin_weights: list = field(default_factory=list)  # (Q,) rebalancing weights, training only
    temperature: float = 0.38
    # Batch normalisation after each convolution (with He initialisation). The paper's plain
    # ReLU stack trained here lost its whole encoder to dead units within a few epochs, leaving
    # only the embedding to colour by (one tint per picture); Iizuka et al. and Zhang et al. use it too.
    batch_norm: bool = True
    trained: dict = field(default_factory=dict)  # provenance, filled in by training
    format_version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_file(cls, path: Path) -> "ModelConfig":
        data = json.loads(Path(path).read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        config = cls(**known)
        if config.head not in HEADS:
            raise ModelError(f"{path}: unknown head {config.head!r}")
        return config


def config_path(weights: Path) -> Path:
    name = weights.name.removesuffix(".h5").removesuffix(".weights")
    return weights.with_name(name + ".json")


def build_colorizer(config: ModelConfig, precision: str = "float32"):
    """Keras model: inputs (L in [-1, 1] of shape (B, H, W, 1), embedding (B, 1000)) -> H/2 x W/2 output.

    `precision` is a Keras dtype policy ('float32', 'mixed_bfloat16', ...); the
    output layer always computes in float32.
    """

    def conv(x, filters, stride=1, kernel=3, name=None):
        if not config.batch_norm:  # the paper's plain form
            return layers.Conv2D(filters, kernel, stride, padding="same", activation="relu", name=name, dtype=precision)(x)
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, kernel_initializer="he_normal",
                          name=name, dtype=precision)(x)
        x = layers.BatchNormalization(dtype=precision)(x)
        return layers.ReLU(dtype=precision)(x)

    light = keras.Input((None, None, 1), name="lightness")
    embedding = keras.Input((config.embedding_size,), name="embedding")
    x = conv(light, 64, 2)
    x = conv(x, 128)
    x = conv(x, 128, 2)
    x = conv(x, 256)
    x = conv(x, 256, 2)
    x = conv(x, 512)
    x = conv(x, 512)
    x = conv(x, 256)
    x = layers.Concatenate(dtype=precision)([x, TileEmbedding(dtype=precision)([x, embedding])])
    x = conv(x, 256, kernel=1, name="fusion")
    x = conv(x, 128)
    x = layers.UpSampling2D(2, dtype=precision)(x)
    x = conv(x, 64)
    x = conv(x, 64)
    x = layers.UpSampling2D(2, dtype=precision)(x)
    x = conv(x, 32)
    if config.head == "regression":
        out = layers.Conv2D(2, 3, padding="same", activation="tanh", dtype="float32", name="ab")(x)
    else:
        out = layers.Conv2D(len(config.bins), 1, dtype="float32", name="ab_logits")(x)
    return keras.Model([light, embedding], out, name=f"koalarization_{config.head}")


def fold_batch_norm(model, config: ModelConfig, precision: str = "float32"):
    """The same function as `model` without its BatchNormalization layers, for inference.

    Each BN after a convolution becomes part of that convolution's weights and bias
    (w * g / sqrt(v + eps), b - m * g / sqrt(v + eps)), which makes the model as fast
    as the plain stack: BN layers cost about 60% more time on CPU.
    """
    plain = build_colorizer(replace(config, batch_norm=False), precision)
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    norms = {id(conv): _next_norm(model, conv) for conv in convs}
    plain_convs = [layer for layer in plain.layers if isinstance(layer, layers.Conv2D)]
    for conv, target in zip(convs, plain_convs, strict=True):
        weights = conv.get_weights()
        norm = norms[id(conv)]
        if norm is None:
            target.set_weights(weights)
            continue
        gamma, beta, mean, variance = norm.get_weights()
        scale = gamma / np.sqrt(variance + norm.epsilon)
        target.set_weights([weights[0] * scale, beta - mean * scale])
    return plain


def _next_norm(model, conv):
    """The BatchNormalization layer fed by `conv`, if any."""
    for node in conv._outbound_nodes:
        if isinstance(node.operation, layers.BatchNormalization):
            return node.operation
    return None


class TileEmbedding(keras.layers.Layer):
    """Repeat a (B, D) embedding over the spatial grid of a (B, h, w, C) feature map."""

    def call(self, inputs):
        features, embedding = inputs
        shape = keras.ops.shape(features)
        tiled = keras.ops.reshape(embedding, (shape[0], 1, 1, -1))
        return keras.ops.broadcast_to(tiled, (shape[0], shape[1], shape[2], keras.ops.shape(embedding)[-1]))


def save(model, config: ModelConfig, path: Path) -> Path:
    """Write NAME.weights.h5 and NAME.json atomically (temp names, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{os.getpid()}.partial.weights.h5")
    model.save_weights(str(partial))
    cfg = config_path(path)
    cfg_partial = cfg.with_name(f".{os.getpid()}.partial.json")
    cfg_partial.write_text(config.to_json())
    os.replace(partial, path)
    os.replace(cfg_partial, cfg)
    return path


PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def _gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def choose_precision(requested: str = "auto") -> str:
    """The Keras dtype policy to run the model in.

    auto ($VIDCOLOR_PRECISION if set): on a GPU mixed_bfloat16 where it is native (compute
    capability 8.0 and up), else mixed_float16; on a CPU mixed_bfloat16 where it has bf16
    instructions (AVX-512 BF16, AMX), else float32.
    """
    requested = requested if requested != "auto" else os.environ.get("VIDCOLOR_PRECISION", "auto")
    if requested not in PRECISIONS:
        raise ModelError(f"precision {requested!r}: must be one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    gpus = _gpus()
    if gpus:
        import tensorflow as tf

        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") or (0, 0)
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "mixed_bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def _share_cores() -> None:
    """On a CPU-only machine, leave one core out of TensorFlow's intra-op thread pool.

    The model runs beside threads that decode, smooth and encode. With a pool as large as
    the machine, each op split over the pool waits for its slowest part whenever another
    stage holds a core: on 2 cores, `bench/bench_remaster.py --sizes 480p` took 1.43x the reference
    transcode's time with a pool of one, 1.55x with TensorFlow's pool of two. Left alone on a GPU, where
    the user set TF_NUM_INTRAOP_THREADS, or once TensorFlow has started.
    """
    if os.environ.get("TF_NUM_INTRAOP_THREADS") or _gpus():
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    except RuntimeError:
        pass  # TensorFlow already started: its pool cannot change


class Colorizer:
    """A loaded model with its embedder: grey in, a*b* out."""

    def __init__(self, model, config: ModelConfig, embedder=None):
        import tensorflow as tf

        if config.batch_norm:
            model = fold_batch_norm(model, config, model.layers[1].dtype_policy.name)
        self.model = model
        self.config = config
        self._embedder = embedder
        self._centres = np.asarray(config.bins, np.float32)
        centres = tf.constant(self._centres)
        temperature = config.temperature
        head = config.head

        @tf.function(reduce_retracing=True)
        def predict(light, embedding):
            out = tf.cast(model([light, embedding], training=False), tf.float32)
            if head == "regression":
                return out * AB_SCALE
            probs = tf.nn.softmax(out / temperature, axis=-1)
            return tf.einsum("bhwq,qc->bhwc", probs, centres)

        self._predict = predict
        self.precision = model.layers[1].dtype_policy.name
        # Larger batches keep a GPU busy; on a CPU, 8 is near the best time per frame and keeps memory low.
        self.batch_size = 32 if _gpus() else 8

    @property
    def embedder(self):
        if self._embedder is None:
            from .embedders import load_embedder

            self._embedder = load_embedder(self.config.embedder)
        return self._embedder

    def embed(self, grey: np.ndarray) -> np.ndarray:
        """Grey uint8 frames (B, H, W) -> (B, 1000) embeddings."""
        return self.embedder.embed(grey)

    def predict_ab(self, light: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """L* (B, h, w) in 0..100 (h, w multiples of 8) and (B, 1000) -> a*b* (B, h/2, w/2, 2) in Lab units."""
        light = scale_lightness(light)[..., None]
        return self._predict(light, np.asarray(embedding, np.float32)).numpy()


def load_colorizer(weights: str | Path | None = None, embedder_weights: str | Path | None = None,
                   precision: str = "auto") -> Colorizer:
    """Rebuild a model from NAME.weights.h5 + NAME.json (the shipped weights by default).

    precision: a Keras dtype policy from PRECISIONS; auto picks one for the machine (choose_precision).
    """
    path = Path(weights) if weights else default_weights()
    cfg = config_path(path)
    if not path.is_file():
        hint = " (train one with `vidcolor train`, or pass --weights)" if weights is None else ""
        raise ModelError(f"{path}: no weights file found{hint}")
    if not cfg.is_file():
        raise ModelError(f"{path}: its config {cfg.name} is missing beside it")
    config = ModelConfig.from_file(cfg)
    _share_cores()
    model = build_colorizer(config, choose_precision(precision))
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise ModelError(f"{path}: cannot load weights ({exc})".splitlines()[0]) from None
    embedder = None
    if embedder_weights:
        from .embedders import load_embedder

        embedder = load_embedder(config.embedder, embedder_weights)
    return Colorizer(model, config, embedder)
