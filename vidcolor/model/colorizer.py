"""The Colorizer: a model loaded from its weights file with its embedder, grey in, a*b* out; the
protocol all of vidcolor outside this wing takes a colorizer by, and the one factory that gives a
job its colorizer (colorizer_for).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from ..color import scale_lightness
from ..errors import ModelError
from ..options import STILL_STYLE
from .backend import gpus
from .config import ModelConfig, TrainedModel, default_weights
from .hints import hint_channels
from .registry import architecture


class ColorizerProtocol(Protocol):
    """All that films, stills, batches and evaluation rely on (render.py, remaster.py)."""

    batch_size: int  # frames per model call
    precision: str  # the Keras dtype policy it computes in
    output_stride: int  # predict_ab answers at 1/output_stride of its input
    input_multiple: int  # its input's sides must be multiples of this
    accepts_hints: bool
    palette_bins: np.ndarray | None  # (Q, 2) a*b* bins predict_ab's prior weighs; None: it takes no prior
    identity: str  # a digest of config and weights: a resumed film must be coloured by the same model

    def embed(self, grey: np.ndarray) -> np.ndarray: ...

    def prepare(self) -> None:
        """Load now what it would load on first use (the embedder), so that its errors come before any work."""

    def styled(self, style: str) -> "ColorizerProtocol": ...

    def predict_ab(self, light: np.ndarray, embedding: np.ndarray, hints: np.ndarray | None = None,
                   prior: np.ndarray | None = None) -> np.ndarray: ...


class Colorizer:
    """A model with its embedder: grey in, a*b* out (a ColorizerProtocol).

    model: the Keras model as trained, or a config.TrainedModel: a weights file's, loaded only where its
    graphs are not in the graph cache yet (graph_cache.py)."""

    def __init__(self, model, config: ModelConfig, embedder=None, style: str = STILL_STYLE):
        entry = architecture(config.architecture)
        self._trained = model if isinstance(model, TrainedModel) else TrainedModel(model)
        self._siblings = {style: self}  # this model in other styles
        self.style = style
        self.config = config
        self.output_stride = entry.output_stride
        self.input_multiple = entry.input_multiple
        centres = np.asarray(config.bins, np.float32)
        self.palette_bins = centres if config.head == "classification" else None
        self._embedder = embedder
        self._identity = None
        self._predict = entry.predictor(lambda: self._trained.inference(entry, config), config.decoding(style),
                                        self._trained.cache_key)  # heads.py
        self.accepts_hints = getattr(self._predict, "accepts_hints", None)
        if self.accepts_hints is None:
            self.accepts_hints = "hints" in [t.name for t in self.model.inputs]
        self.precision = self._trained.precision
        # Larger batches keep a GPU busy; on a CPU, 8 is near the best time per frame and keeps memory low.
        self.batch_size = 32 if gpus() else 8

    @property
    def model(self):
        """The Keras model it colours with (its weights file loaded now if it was not)."""
        return self._trained.inference(architecture(self.config.architecture), self.config)

    @property
    def embedder(self):
        self.prepare()
        return self._embedder

    def prepare(self) -> None:
        """Load the embedder now (it loads on first use), so that its errors come before any work."""
        if self._embedder is None:
            from .embedders import colouring_embedder

            self._embedder = colouring_embedder(self.config.embedder)

    @property
    def identity(self) -> str:
        if self._identity is None:
            digest = hashlib.sha256(self.config.decoding(self.style).to_json().encode())
            digest.update(self._trained.digest.encode())
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


def load_colorizer(weights: str | Path | None = None, embedder_weights: str | Path | None = None,
                   precision: str = "auto", style: str = STILL_STYLE) -> Colorizer:
    """Rebuild a model from NAME.weights.h5 + NAME.json (the shipped weights by default): from the
    frozen graphs the graph cache keeps of it where it has them (graph_cache.py), else from its Keras model.

    precision: a Keras dtype policy from options.PRECISIONS; auto picks one for the machine
    (backend.choose_precision).
    style: how it decodes its colours (STYLES); remaster() and colorize_image() restyle it for their medium.
    """
    path = Path(weights) if weights else default_weights()
    config, model = TrainedModel.of_file(path, precision, shipped=weights is None)
    embedder = None
    if embedder_weights:
        from .embedders import load_embedder

        embedder = load_embedder(config.embedder, embedder_weights)
    return Colorizer(model, config, embedder, style)


def colorizer_for(style: str, colorizer: ColorizerProtocol | None = None, weights: str | Path | None = None,
                  precision: str = "auto") -> ColorizerProtocol:
    """The one way a job gets its colorizer: the one it was given, decoding in `style`, else the model
    of `weights` (default: the shipped one) loaded in `precision` and decoding in `style`."""
    if colorizer is None:
        return load_colorizer(weights, precision=precision, style=style)
    return colorizer.styled(style)
