"""The architectures a colorizer is built as, by name (``ModelConfig.architecture``):

- ``lite0_unet`` (default, shipped): Koalarization fusion on a pretrained EfficientNet-Lite0
  encoder with a U-Net decoder and hint inputs (lite0_unet.py);
- ``koalarization``: the paper's encoder trained from scratch (koalarization.py).

Each is one entry of ARCHITECTURES, an `Architecture`. What an entry knows without building a
model (its name, strides, what it takes) needs no Keras, so options are checked before Keras starts.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import ModelError
from .backend import import_keras
from .koalarization import Koalarization
from .lite0_unet import Lite0Unet

HEADS = ("regression", "classification")


class Architecture(Protocol):
    """One architecture: its facts, and how to build a model of it and colour with that model."""

    name: str
    input_multiple: int  # its input's sides must be multiples of this
    output_stride: int  # Colorizer.predict_ab answers at 1/output_stride of its input
    logit_stride: int  # the Keras model's own output is 1/logit_stride of its input (training targets are made so)

    def problem(self, head: str, embedder: str) -> str | None:
        """What this architecture does not take of a head and an embedder, in a few words, or None."""

    def build(self, config, precision: str = "float32", **options):
        """The Keras model of `config` in the dtype policy `precision` (options: the builder's own)."""

    def inference_model(self, model, config):
        """The model to colour with, made from the model as trained."""

    def predictor(self, model, config, cache_key: dict | None = None):
        """predict(inputs, prior) -> a*b* in Lab units (heads.py). model(): the inference model, which
        loads the weights if need be (a predictor whose graphs are in the cache may never ask);
        cache_key: what names the model in the graph cache (graph_cache.py), None: not kept there."""


ARCHITECTURES: dict[str, Architecture] = {entry.name: entry for entry in (Lite0Unet(), Koalarization())}


def architecture(name: str) -> Architecture:
    """The entry of `name`; ModelError if there is none."""
    if name not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {name!r} (known: {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[name]


def architecture_problem(architecture: str, head: str, embedder: str, crop: int | None = None) -> str | None:
    """What is wrong with this combination, in a few words, or None."""
    if architecture not in ARCHITECTURES:
        return f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})"
    if head not in HEADS:
        return f"unknown head {head!r} (known: {', '.join(HEADS)})"
    entry = ARCHITECTURES[architecture]
    problem = entry.problem(head, embedder)
    if problem is None and crop is not None and crop % entry.input_multiple:
        return f"crop {crop}: must be a multiple of {entry.input_multiple} for {architecture}"
    return problem


def build_colorizer(config, precision: str = "float32", **options):
    """The Keras model of `config.architecture` (options: the builder's, e.g. encoder_state for lite0_unet)."""
    entry = architecture(config.architecture)
    import_keras()
    return entry.build(config, precision, **options)


def logit_stride(config) -> int:
    """How much smaller than its input the model's own output is (training targets are made that size)."""
    return architecture(config.architecture).logit_stride
