"""The default colorizer: Deep Koalarization's fusion on a pretrained encoder, with hint inputs.

Encoder: EfficientNet-Lite0's own convolutional stages (ImageNet weights), seeing the
lightness as the grey picture it was trained on, tapped at strides 2, 4, 8, 16 and 32.
Fusion (the paper's): the per-shot 1000-d embedding tiled over the stride-32 grid,
concatenated with the deepest features, 1x1 convolution. Decoder: U-Net steps up to
stride 4, each taking the encoder's features of its size (skip connections) and the
hint channels pooled to its size. Head: logits over a*b* bins at stride 4 (colour is
low-frequency; the Colorizer upsamples the decoded a*b* to stride 2, and the pipeline's
guided upsampler takes it to full size along the lightness' edges).

Hints (Zhang et al. 2017): three channels beside the lightness, a*/128, b*/128 and a
mask (1 where a colour is given, 0 elsewhere). All zeros means "colour it yourself".
"""

from __future__ import annotations

import keras
from keras import layers

from .koalarization import TileEmbedding

OUTPUT_STRIDE = 2  # what Colorizer.predict_ab returns: the logits' a*b*, upsampled x2 bilinear
LOGIT_STRIDE = 4  # input sides: multiples of 32 (model.INPUT_MULTIPLES), the encoder's deepest stride
HINT_CHANNELS = 3
# decoder widths at strides 32, 16, 8, 4
_WIDTHS = (192, 128, 96, 64)
_UPSAMPLING = "nearest"


def build(config, precision: str = "float32", encoder_state: dict | None = None, encoder_precision: str | None = None):
    """Keras model: (lightness (B, H, W, 1) in [-1, 1], embedding (B, 1000), hints (B, H, W, 3))
    -> a*b* bin logits (B, H/4, W/4, Q). H and W must be multiples of 32.

    encoder_state: Lite0's PyTorch weights to start the encoder from (training); without it
    the encoder's weights come from the colorizer's own weights file. encoder_precision: the
    encoder's own dtype policy, if not `precision` (fine-tuning on a CPU is faster with a float32
    encoder: bfloat16 depthwise convolutions have slow gradients there).
    """
    from .embedders import assign_weights, lite0_shapes, lite0_trunk

    light = keras.Input((None, None, 1), name="lightness")
    embedding = keras.Input((config.embedding_size,), name="embedding")
    hints = keras.Input((None, None, HINT_CHANNELS), name="hints")

    state = encoder_state or lite0_shapes()
    grey_in = keras.Input((None, None, 1))
    # L in [-1, 1] -> the embedders' grey (L * 2.55) scaled as Lite0 expects, (g - 127) / 128, on 3 channels
    encoder_precision = encoder_precision or precision
    grey = layers.Rescaling(127.5 / 128.0, offset=0.5 / 128.0, dtype=encoder_precision)(grey_in)
    grey = layers.Concatenate(dtype=encoder_precision)([grey, grey, grey])
    taps, _, assigned = lite0_trunk(grey, state, dtype=encoder_precision)
    encoder = keras.Model(grey_in, taps, name="encoder")
    assign_weights(assigned, state)

    features = encoder(light)
    x = layers.Concatenate(dtype=precision)([features[-1], TileEmbedding(dtype=precision)([features[-1], embedding])])
    x = _conv(x, 256, precision, kernel=1, name="fusion")
    hint_levels = HintPyramid(len(_WIDTHS) + 1, dtype=precision)(hints)  # strides 2..32
    for level, width in enumerate(_WIDTHS):
        skip = features[-1 - level] if level else None
        inputs = [x, hint_levels[-1 - level]] + ([skip] if skip is not None else [])
        x = _conv(layers.Concatenate(dtype=precision)(inputs), width, precision)
        if level < len(_WIDTHS) - 1:
            x = layers.UpSampling2D(2, interpolation=_UPSAMPLING, dtype=precision)(x)
    out = layers.Conv2D(len(config.bins), 1, dtype="float32", name="ab_logits")(x)
    return keras.Model([light, embedding, hints], out, name="lite0_unet")


def inference_model(model, config):
    """The model to colour with: as trained (its batch normalisation is folded already)."""
    return model


# Lite0's stem and first three blocks (strides 2 and 4) hold 9 convolutions: they stay frozen when the
# encoder is fine-tuned. They see edges and textures, which colour needs no new version of, and on a
# CPU their backward pass (large depthwise convolutions) cost most of a fine-tuning step.
_EARLY_CONVOLUTIONS = 9


def set_encoder_trainable(model, trainable: bool) -> None:
    """Freeze the whole encoder, or let all but its early stages learn."""
    encoder = model.get_layer("encoder")
    encoder.trainable = trainable
    if trainable:
        convolutions = [layer for layer in encoder.layers if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))]
        for layer in convolutions[:_EARLY_CONVOLUTIONS]:
            layer.trainable = False


def _conv(x, filters, precision, kernel=3, name=None):
    return layers.Conv2D(filters, kernel, padding="same", activation="relu", kernel_initializer="he_normal",
                         name=name, dtype=precision)(x)


class HintPyramid(keras.layers.Layer):
    """Hints at strides 2, 4, ... : in each cell the mean colour of the hints inside it (x4, so that
    it weighs like the features beside it) and whether any hint is there. Plain average pooling
    would shrink a small hint to nothing by the deeper levels."""

    def __init__(self, levels: int, **kwargs):
        super().__init__(**kwargs)
        self.levels = levels

    def call(self, hints):
        ops = keras.ops
        ab_mask, share, any_hint = hints[..., :2], hints[..., 2:], hints[..., 2:]
        out = []
        for _ in range(self.levels):
            ab_mask = ops.average_pool(ab_mask, 2, 2)
            share = ops.average_pool(share, 2, 2)  # the share of the cell that hints cover
            any_hint = ops.max_pool(any_hint, 2, 2)
            out.append(ops.concatenate([4.0 * ab_mask / ops.maximum(share, 1e-4), any_hint], axis=-1))
        return out
