"""The paper's colorizer (Deep Koalarization, Baldassarre et al. 2017), trained from scratch.

Encoder (L* -> H/8 x W/8 x 256), fusion with a 1000-d ImageNet embedding tiled
over the grid, decoder up to H/2 x W/2. The paper's last nearest x2 upsampling
is left to the render step's edge-aware upsampler, which goes from H/2 straight to
full resolution guided by the original lightness. Kept buildable and trainable
(`vidcolor train --arch koalarization`); the shipped model is `lite0_unet.py`'s.

Two output heads share that body:
- ``regression``: tanh a*b* scaled to [-1, 1], trained with MSE (the paper);
- ``classification``: logits over quantised a*b* bins, trained with rebalanced
  cross-entropy and decoded with the annealed mean (Zhang et al. 2016).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .backend import dtype_policy_of

INPUT_MULTIPLE = 8  # three stride-2 convolutions
OUTPUT_STRIDE = LOGIT_STRIDE = 2


def build(config, precision: str = "float32"):
    """Keras model: inputs (L in [-1, 1] of shape (B, H, W, 1), embedding (B, 1000)) -> H/2 x W/2 output.

    `precision` is a Keras dtype policy ('float32', 'mixed_bfloat16', ...); the
    output layer always computes in float32.
    """
    import keras
    from keras import layers

    from .layers import TileEmbedding

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


def fold_batch_norm(model, config, precision: str = "float32"):
    """The same function as `model` without its BatchNormalization layers, for inference.

    Each BN after a convolution becomes part of that convolution's weights and bias
    (w * g / sqrt(v + eps), b - m * g / sqrt(v + eps)), which makes the model as fast
    as the plain stack: BN layers cost about 60% more time on CPU.
    """
    from keras import layers

    plain = build(replace(config, batch_norm=False), precision)
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
    from keras import layers

    for node in conv._outbound_nodes:
        if isinstance(node.operation, layers.BatchNormalization):
            return node.operation
    return None


class Koalarization:
    """This architecture's entry in the registry (registry.Architecture)."""

    name = "koalarization"
    input_multiple = INPUT_MULTIPLE
    output_stride = OUTPUT_STRIDE
    logit_stride = LOGIT_STRIDE

    def problem(self, head: str, embedder: str) -> str | None:
        return None  # either head, on either embedder

    def build(self, config, precision: str = "float32", **options):
        return build(config, precision, **options)

    def inference_model(self, model, config):
        """The model to colour with: batch normalisation folded in, where it has any."""
        return fold_batch_norm(model, config, dtype_policy_of(model)) if config.batch_norm else model

    def predictor(self, model, config, cache_key=None):
        """Colorizer's predict(inputs, prior) on the inference model: heads.predictor (its graph is not cached)."""
        from .heads import predictor

        return predictor(model(), config, LOGIT_STRIDE // OUTPUT_STRIDE)
