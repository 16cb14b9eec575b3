"""A colorizer's files: NAME.weights.h5 travels with NAME.json (a ModelConfig), so a file
rebuilds its own model. Writing both, reading the config, and building the Keras model that
holds a file's weights (load_keras_model), at once or when first needed (TrainedModel; the
Colorizer around it: colorizer.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..color import AB_SCALE
from ..errors import ModelError
from ..options import check_style
from ..outputs import atomic_path, write_text
from .backend import choose_precision, dtype_policy_of, share_cores
from .registry import architecture_problem, build_colorizer

WEIGHTS_NAME = "vidcolor.weights.h5"


def default_weights() -> Path:
    """The shipped model: $VIDCOLOR_WEIGHTS, else weights/ of a source checkout, else the installed copy."""
    if os.environ.get("VIDCOLOR_WEIGHTS"):
        return Path(os.environ["VIDCOLOR_WEIGHTS"])
    checkout = Path(__file__).resolve().parents[2] / "weights" / WEIGHTS_NAME
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


def config_path(weights: Path) -> Path:
    name = weights.name.removesuffix(".h5").removesuffix(".weights")
    return weights.with_name(name + ".json")


def write_config(config: ModelConfig, path: Path) -> Path:
    return write_text(path, config.to_json())


def read_model_config(path: Path, shipped: bool = False) -> ModelConfig:
    """The ModelConfig of NAME.weights.h5 (its NAME.json); ModelError unless both files are there."""
    cfg = config_path(path)
    if not path.is_file():
        hint = " (train one with `vidcolor train`, or pass --weights)" if shipped else ""
        raise ModelError(f"{path}: no weights file found{hint}")
    if not cfg.is_file():
        raise ModelError(f"{path}: its config {cfg.name} is missing beside it")
    return ModelConfig.from_file(cfg)


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


def load_keras_model(path: str | Path, precision: str = "float32", shipped: bool = False):
    """(ModelConfig, the Keras model as trained, with the file's weights) of NAME.weights.h5 and NAME.json.

    precision: one of options.PRECISIONS (auto: backend.choose_precision). The files' problems are
    told before Keras starts; shipped: the path is the shipped model's, and a missing file says how to make one.
    """
    import warnings

    path = Path(path)
    config = read_model_config(path, shipped)
    precision = choose_precision(precision)
    share_cores()
    model = build_colorizer(config, precision)
    try:
        with warnings.catch_warnings():  # Keras warns per layer that does not fit; one line below says it
            warnings.simplefilter("ignore")
            model.load_weights(str(path))
    except Exception as exc:
        raise ModelError(f"{path}: cannot load weights, they do not fit the model {config_path(path).name} "
                         f"describes ({exc})".splitlines()[0].rstrip(":")) from None
    return config, model


class TrainedModel:
    """A colorizer's Keras model as trained: one given, or a weights file's, loaded when first needed
    (a colorizer whose graphs are in the graph cache needs none)."""

    def __init__(self, model=None, path: Path | None = None, precision: str = "float32"):
        self._model, self.path, self._digest, self._inference = model, path, None, None
        self.precision = dtype_policy_of(model) if model is not None else precision

    @classmethod
    def of_file(cls, path: str | Path, precision: str = "float32",
                shipped: bool = False) -> tuple[ModelConfig, TrainedModel]:
        """(ModelConfig, TrainedModel) of NAME.weights.h5 and NAME.json, the weights not loaded yet; the
        files' problems are told at once, as load_keras_model tells them."""
        path = Path(path)
        config = read_model_config(path, shipped)
        precision = choose_precision(precision)
        share_cores()
        return config, cls(path=path, precision=precision)

    def __call__(self):
        """The Keras model, its file's weights loaded on the first call."""
        if self._model is None:
            _, self._model = load_keras_model(self.path, self.precision)
        return self._model

    def inference(self, entry, config):
        """The model to colour with (entry: its registry.Architecture), made once."""
        if self._inference is None:
            self._inference = entry.inference_model(self(), config)
        return self._inference

    @property
    def digest(self) -> str:
        """The sha256 of its weights file, or of the given model's weights."""
        if self._digest is None:
            if self.path is not None:
                from .graph_cache import file_digest

                self._digest = file_digest(self.path)
            else:
                digest = hashlib.sha256()
                for weights in self._model.get_weights():
                    digest.update(np.ascontiguousarray(weights).tobytes())
                self._digest = digest.hexdigest()
        return self._digest

    @property
    def cache_key(self) -> dict | None:
        """What names a weights file's model in the graph cache; None for a model in memory (one that is
        being trained would fill the cache with a graph per check)."""
        return None if self.path is None else {"weights": self.digest, "precision": self.precision}
