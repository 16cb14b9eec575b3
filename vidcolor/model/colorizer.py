"""The colorizer seam: a model config, architectures by name, the Colorizer, loading weights.

Architectures (``ModelConfig.architecture``):
- ``lite0_unet`` (default, shipped): Koalarization fusion on a pretrained EfficientNet-Lite0
  encoder with a U-Net decoder and hint inputs (unet.py);
- ``koalarization``: the paper's encoder trained from scratch (koalarization.py).

Both predict a*b* at half the input size. A weights file ``NAME.weights.h5`` travels with
``NAME.json`` (a ModelConfig), so a file rebuilds its own model.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .color import AB_SCALE, scale_lightness
from .errors import ModelError
from .hints import hint_channels
from .options import STILL_STYLE, check_style
from .outputs import atomic_path, write_text

HEADS = ("regression", "classification")
# architecture -> the multiple its input's sides must be (known here, without Keras, for option checks)
INPUT_MULTIPLES = {"lite0_unet": 32, "koalarization": 8}
ARCHITECTURES = tuple(INPUT_MULTIPLES)
WEIGHTS_NAME = "vidcolor.weights.h5"


def import_keras():
    """Keras, imported the vidcolor way: TensorFlow's C++ start-up chatter (CUDA probing, oneDNN
    notes) is not for users, so it is silenced unless the user set TF_CPP_MIN_LOG_LEVEL. The
    variable only counts before TensorFlow is first imported: every vidcolor path into Keras (building
    or loading a model, an embedder, training, looking for GPUs) comes through here first."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


def default_weights() -> Path:
    """The shipped model: $VIDCOLOR_WEIGHTS, else weights/ of a source checkout, else the installed copy."""
    if os.environ.get("VIDCOLOR_WEIGHTS"):
        return Path(os.environ["VIDCOLOR_WEIGHTS"])
    checkout = Path(__file__).resolve().parent.parent / "weights" / WEIGHTS_NAME
    installed = Path(sys.prefix) / "share" / "vidcolor" / "weights" / WEIGHTS_NAME
    return checkout if checkout.is_file() or not installed.is_file() else installed


@dataclass
class ModelConfig:
    architecture: str = "lite0_unet"
    embedder: str = "efficientnet_lite0"
    head: str = "classification"
    embedding_size: int = 1000
    lightness_scaling: str = "L/50-1"
    ab_scaling: float = AB_SCALE
    bins: list = field(default_factory=list)  # (Q, 2) a*b* centres, classification only
    bin_weights: list = field(default_factory=list)  # (Q,) rebalancing weights, training only
    temperature: float = 0.38
    # Decoding: 0 keeps the distribution as trained (with rare, saturated colours weighted up); 1 takes
    # that class rebalancing back out, which keeps whites and greys neutral. Chosen on validation photos.
    prior_correction: float = 0.0
    muted_prior_correction: float | None = None  # the muted style's (STYLES); None: the same as vivid
    # Batch normalisation after each convolution (with He initialisation). The paper's plain
    # ReLU stack trained here lost its whole encoder to dead units within a few epochs, leaving
    # only the embedding to colour by (one tint per picture); Iizuka et al. and Zhang et al. use it too.
    batch_norm: bool = True
    trained: dict = field(default_factory=dict)  # provenance, filled in by training
    format_version: int = 2

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def check(self) -> None:
        """ValueError or TypeError naming a setting no working model is built from (a wrong or damaged file)."""
        pairs = all(len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in self.bins)
        weights = len(self.bin_weights) == len(self.bins) and all(w > 0 for w in self.bin_weights)
        prior = all(isinstance(c, (int, float)) and (not c or weights)
                    for c in (self.prior_correction, self.muted_prior_correction or 0.0))
        for ok, must in [(pairs, "bins of [a*, b*] pairs"), (self.head != "classification" or len(self.bins) > 1,
                         "two or more bins"), (prior, "number prior corrections, with bin_weights above 0 for each bin"),
                         (self.embedding_size == 1000, "embedding_size 1000"), (self.temperature > 0, "temperature above 0"),
                         (self.lightness_scaling == "L/50-1" and self.ab_scaling == AB_SCALE, "the L/50-1, 128 scalings")]:
            if not ok:
                raise ValueError(f"needs {must}")

    def decoding(self, style: str) -> "ModelConfig":
        """The config a model in `style` (STYLES) decodes by: its prior_correction is the style's."""
        check_style(style)
        if style == "muted" and self.muted_prior_correction is not None:
            return replace(self, prior_correction=self.muted_prior_correction)
        return self

    @classmethod
    def from_file(cls, path: Path) -> "ModelConfig":
        try:
            data = json.loads(Path(path).read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            data.setdefault("architecture", "koalarization")  # format 1 files came before the choice
            config = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
            problem = architecture_problem(config.architecture, config.head, config.embedder)
            if problem:
                raise ModelError(f"{path}: architecture {config.architecture}: {problem}")
            config.check()
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{path}: not a vidcolor model config ({exc})".splitlines()[0]) from None
        return config


def architecture_problem(architecture: str, head: str, embedder: str, crop: int | None = None) -> str | None:
    """What is wrong with this combination, in a few words, or None."""
    if architecture not in ARCHITECTURES:
        return f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})"
    if head not in HEADS:
        return f"unknown head {head!r} (known: {', '.join(HEADS)})"
    if architecture == "lite0_unet" and (head != "classification" or embedder != "efficientnet_lite0"):
        return "takes --head classification and --embedder efficientnet_lite0"
    if crop is not None and crop % INPUT_MULTIPLES[architecture]:
        return f"crop {crop}: must be a multiple of {INPUT_MULTIPLES[architecture]} for {architecture}"
    return None


def _architecture(name: str):
    """The module that builds an architecture: build(config, precision, ...), inference_model(model, config),
    predictor(model, config) (decode.py), OUTPUT_STRIDE (of predict_ab) and LOGIT_STRIDE (of the Keras model)."""
    if name == "lite0_unet":
        from . import unet

        return unet
    if name == "koalarization":
        from . import koalarization

        return koalarization
    raise ModelError(f"unknown architecture {name!r} (known: {', '.join(ARCHITECTURES)})")


def build_colorizer(config: ModelConfig, precision: str = "float32", **kwargs):
    """The Keras model of `config.architecture` (kwargs: builder options, e.g. encoder_state for lite0_unet)."""
    module = _architecture(config.architecture)
    import_keras()
    return module.build(config, precision, **kwargs)


def config_path(weights: Path) -> Path:
    name = weights.name.removesuffix(".h5").removesuffix(".weights")
    return weights.with_name(name + ".json")


def save(model, config: ModelConfig, path: Path) -> Path:
    """Write NAME.weights.h5 and NAME.json atomically (outputs.atomic_path: temp names, then rename).

    Only the model's weights go in the file: a model compiled for training is copied into a
    plain one first, or Keras would add the optimizer's state (twice the decoder's size).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if getattr(model, "optimizer", None) is not None:
        plain = build_colorizer(config)
        plain.set_weights(model.get_weights())
        model = plain
    with atomic_path(path, suffix=".weights.h5") as partial:  # Keras writes only to names ending so
        model.save_weights(str(partial))
    write_config(config, config_path(path))
    return path


def write_config(config: ModelConfig, path: Path) -> Path:
    return write_text(path, config.to_json())


PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def gpus() -> list:
    """The GPUs the Keras backend sees (TensorFlow uses one by itself when it sees it)."""
    keras = import_keras()

    if keras.backend.backend() == "jax":
        import jax

        return [d for d in jax.devices() if d.platform == "gpu"]
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def logit_stride(config: ModelConfig) -> int:
    """How much smaller than its input the model's own output is (training targets are made that size)."""
    return _architecture(config.architecture).LOGIT_STRIDE


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
    found = gpus()
    if found:
        import keras

        if keras.backend.backend() != "tensorflow":
            return "mixed_bfloat16"
        import tensorflow as tf

        capability = tf.config.experimental.get_device_details(found[0]).get("compute_capability") or (0, 0)
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
    keras = import_keras()
    if keras.backend.backend() != "tensorflow" or os.environ.get("TF_NUM_INTRAOP_THREADS") or gpus():
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    except RuntimeError:
        pass  # TensorFlow already started: its pool cannot change


class ColorizerProtocol(Protocol):
    """All that films, stills, batches and evaluation rely on (render.py, pipeline.py)."""

    batch_size: int  # frames per model call
    precision: str  # the Keras dtype policy it computes in
    output_stride: int  # predict_ab answers at 1/output_stride of its input
    input_multiple: int  # its input's sides must be multiples of this
    accepts_hints: bool
    palette_bins: np.ndarray | None  # (Q, 2) a*b* bins predict_ab's prior weighs; None: it takes no prior
    identity: str  # a digest of config and weights: a resumed film must be coloured by the same model

    def embed(self, grey: np.ndarray) -> np.ndarray: ...

    def styled(self, style: str) -> "ColorizerProtocol": ...

    def predict_ab(self, light: np.ndarray, embedding: np.ndarray, hints: np.ndarray | None = None,
                   prior: np.ndarray | None = None) -> np.ndarray: ...


class Colorizer:
    """A loaded Keras model with its embedder: grey in, a*b* out (a ColorizerProtocol)."""

    def __init__(self, model, config: ModelConfig, embedder=None, style: str = STILL_STYLE):
        import_keras()
        architecture = _architecture(config.architecture)
        self._trained, self._siblings = model, {style: self}  # siblings: this model in other styles
        self.style = style
        decoding = config.decoding(style)
        model = architecture.inference_model(model, config)
        self.model = model
        self.config = config
        self.output_stride = architecture.OUTPUT_STRIDE
        self.input_multiple = INPUT_MULTIPLES[config.architecture]
        self.accepts_hints = "hints" in [t.name for t in model.inputs]
        centres = np.asarray(config.bins, np.float32)
        self.palette_bins = centres if config.head == "classification" else None
        self._embedder = embedder
        self._identity = None
        self._predict = architecture.predictor(model, decoding)  # decode.py
        self.precision = dtype_policy_of(model)
        # Larger batches keep a GPU busy; on a CPU, 8 is near the best time per frame and keeps memory low.
        self.batch_size = 32 if gpus() else 8

    @property
    def embedder(self):
        if self._embedder is None:
            from .embedders import load_embedder

            self._embedder = load_embedder(self.config.embedder)
        return self._embedder

    @property
    def identity(self) -> str:
        if self._identity is None:
            digest = hashlib.sha256(self.config.decoding(self.style).to_json().encode())
            for weights in self.model.get_weights():
                digest.update(np.ascontiguousarray(weights).tobytes())
            self._identity = digest.hexdigest()[:16]
        return self._identity

    def embed(self, grey: np.ndarray) -> np.ndarray:
        """Grey uint8 frames (B, H, W) -> (B, 1000) embeddings."""
        return self.embedder.embed(grey)

    def styled(self, style: str) -> "Colorizer":
        """This model decoding in `style` (STYLES): the same Keras model and embedder, built once per style."""
        if style not in self._siblings:
            if self.config.decoding(style) == self.config.decoding(self.style):
                self._siblings[style] = self
            else:
                sibling = Colorizer(self._trained, self.config, self.embedder, style)
                sibling._siblings = self._siblings
                self._siblings[style] = sibling
        return self._siblings[style]

    def predict_ab(self, light: np.ndarray, embedding: np.ndarray, hints: np.ndarray | None = None,
                   prior: np.ndarray | None = None) -> np.ndarray:
        """L* (B, h, w) in 0..100 (h, w multiples of input_multiple), (B, 1000) embeddings, optional
        hints (B, h, w, 3): a*, b* in Lab units and a 0/1 mask, and an optional prior (B, Q): log-weights
        over the a*b* bins that multiply each pixel's distribution (palette.palette_prior)
        -> a*b* (B, h/stride, w/stride, 2) in Lab units."""
        light = np.asarray(light, np.float32)
        inputs = [scale_lightness(light)[..., None], np.asarray(embedding, np.float32)]
        if hints is not None and not self.accepts_hints:
            raise ModelError(f"the {self.config.architecture} model takes no colour hints")
        if hints is not None:
            inputs.append(hint_channels(hints, light.shape))
        if prior is not None and self.palette_bins is None:
            raise ModelError(f"the {self.config.head} model takes no reference palette")
        return np.asarray(self._predict(inputs, None if prior is None else np.asarray(prior, np.float32)))


def dtype_policy_of(model) -> str:
    """The dtype policy its layers compute in (inputs and nested models say float32 whatever they hold)."""
    import keras

    own = (layer for layer in model.layers if not isinstance(layer, (keras.layers.InputLayer, keras.Model)))
    return next(own).dtype_policy.name


def load_colorizer(weights: str | Path | None = None, embedder_weights: str | Path | None = None,
                   precision: str = "auto", style: str = STILL_STYLE) -> Colorizer:
    """Rebuild a model from NAME.weights.h5 + NAME.json (the shipped weights by default).

    precision: a Keras dtype policy from PRECISIONS; auto picks one for the machine (choose_precision).
    style: how it decodes its colours (STYLES); remaster() and colorize_image() restyle it for their medium.
    """
    path = Path(weights) if weights else default_weights()
    config = read_model_config(path, shipped=weights is None)  # file problems are told before Keras starts
    model = _model_with_weights(config, path, choose_precision(precision))
    embedder = None
    if embedder_weights:
        from .embedders import load_embedder

        embedder = load_embedder(config.embedder, embedder_weights)
    return Colorizer(model, config, embedder, style)


def read_model_config(path: Path, shipped: bool = False) -> ModelConfig:
    """The ModelConfig of NAME.weights.h5 (its NAME.json); ModelError unless both files are there."""
    cfg = config_path(path)
    if not path.is_file():
        hint = " (train one with `vidcolor train`, or pass --weights)" if shipped else ""
        raise ModelError(f"{path}: no weights file found{hint}")
    if not cfg.is_file():
        raise ModelError(f"{path}: its config {cfg.name} is missing beside it")
    return ModelConfig.from_file(cfg)


def load_model(path: Path, precision: str = "float32", shipped: bool = False):
    """(ModelConfig, Keras model with the file's weights) from NAME.weights.h5 and NAME.json."""
    config = read_model_config(Path(path), shipped)
    return config, _model_with_weights(config, Path(path), precision)


def _model_with_weights(config: ModelConfig, path: Path, precision: str):
    import warnings

    _share_cores()
    model = build_colorizer(config, precision)
    try:
        with warnings.catch_warnings():  # Keras warns per layer that does not fit; one line below says it
            warnings.simplefilter("ignore")
            model.load_weights(str(path))
    except Exception as exc:
        raise ModelError(f"{path}: cannot load weights, they do not fit the model {config_path(path).name} "
                         f"describes ({exc})".splitlines()[0].rstrip(":")) from None
    return model
