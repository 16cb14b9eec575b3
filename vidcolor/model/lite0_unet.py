"""The default colorizer: Deep Koalarization's fusion on a pretrained encoder, with hint inputs.

Encoder: EfficientNet-Lite0's own convolutional stages (ImageNet weights), seeing the
lightness as the grey picture it was trained on, tapped at strides 2, 4, 8, 16 and 32.
Fusion (the paper's): the per-shot 1000-d embedding tiled over the stride-32 grid,
concatenated with the deepest features, 1x1 convolution. Decoder: U-Net steps up to
stride 4, each taking the encoder's features of its size (skip connections) and the
hint channels pooled to its size. Head: logits over a*b* bins at stride 4 (colour is
low-frequency; the Colorizer upsamples the decoded a*b* to stride 2, and the render step's
guided upsampler takes it to full size along the lightness' edges).

Hints (Zhang et al. 2017): three channels beside the lightness, a*/128, b*/128 and a
mask (1 where a colour is given, 0 elsewhere). All zeros means "colour it yourself".
"""

from __future__ import annotations

from functools import partial

from .backend import dtype_policy_of, plain_policy

INPUT_MULTIPLE = 32  # the encoder's deepest stride
OUTPUT_STRIDE = 2  # what Colorizer.predict_ab returns: the logits' a*b*, upsampled x2 bilinear
LOGIT_STRIDE = 4
# decoder widths at strides 32, 16, 8, 4
_WIDTHS = (192, 128, 96, 64)
_UPSAMPLING = "nearest"


def build(config, precision: str = "float32", encoder_state: dict | None = None, encoder_precision: str | None = None,
          colouring: bool = False, hint_input: bool = True):
    """Keras model: (lightness (B, H, W, 1) in [-1, 1], embedding (B, 1000), hints (B, H, W, 3))
    -> a*b* bin logits (B, H/4, W/4, Q). H and W must be multiples of 32.

    encoder_state: Lite0's PyTorch weights to start the encoder from (training); without it
    the encoder's weights come from the colorizer's own weights file. encoder_precision: the
    encoder's own dtype policy, if not `precision` (fine-tuning on a CPU is faster with a float32
    encoder: bfloat16 depthwise convolutions have slow gradients there).

    colouring: the same function laid out to colour with (colouring_model gives it a trained model's
    weights), its output the features the logits are computed from: the grey picture's three equal
    channels are one broadcast, not a concatenation, and each upsampling is one resize op. Without
    hint_input it takes no hints: zeros take their place, which is what colouring without hints is.
    """
    import keras
    from keras import layers

    from .embedders import assign_weights, lite0_shapes, lite0_trunk
    from .layers import HINT_CHANNELS, HintPyramid, NearestTwice, NoHints, ThreeChannels, TileEmbedding

    light = keras.Input((None, None, 1), name="lightness")
    embedding = keras.Input((config.embedding_size,), name="embedding")
    hints = keras.Input((None, None, HINT_CHANNELS), name="hints")

    state = encoder_state or lite0_shapes()
    grey_in = keras.Input((None, None, 1))
    # L in [-1, 1] -> the embedders' grey (L * 2.55) scaled as Lite0 expects, (g - 127) / 128, on 3 channels
    encoder_precision = encoder_precision or precision
    grey = layers.Rescaling(127.5 / 128.0, offset=0.5 / 128.0, dtype=encoder_precision)(grey_in)
    grey = (ThreeChannels if colouring else layers.Concatenate)(dtype=encoder_precision)([grey, grey, grey])
    taps, _, assigned = lite0_trunk(grey, state, dtype=encoder_precision)
    encoder = keras.Model(grey_in, taps, name="encoder")
    assign_weights(assigned, state)

    features = encoder(light)
    x = layers.Concatenate(dtype=precision)([features[-1], TileEmbedding(dtype=precision)([features[-1], embedding])])
    x = _conv(x, 256, precision, kernel=1, name="fusion")
    levels = len(_WIDTHS) + 1  # strides 2..32
    hint_levels = HintPyramid(levels, dtype=precision)(hints) if hint_input else NoHints(levels, dtype=precision)(light)
    for level, width in enumerate(_WIDTHS):
        skip = features[-1 - level] if level else None
        inputs = [x, hint_levels[-1 - level]] + ([skip] if skip is not None else [])
        x = _conv(layers.Concatenate(dtype=precision)(inputs), width, precision)
        if level < len(_WIDTHS) - 1:
            upsample = NearestTwice if colouring else partial(layers.UpSampling2D, 2, interpolation=_UPSAMPLING)
            x = upsample(dtype=precision)(x)
    inputs = [light, embedding] + ([hints] if hint_input else [])
    if colouring:
        return keras.Model(inputs, x, name="lite0_unet_features")
    out = layers.Conv2D(len(config.bins), 1, dtype="float32", name="ab_logits")(x)
    return keras.Model(inputs, out, name="lite0_unet")


# Lite0's stem and first three blocks (strides 2 and 4) hold 9 convolutions: they stay frozen when the
# encoder is fine-tuned. They see edges and textures, which colour needs no new version of, and on a
# CPU their backward pass (large depthwise convolutions) cost most of a fine-tuning step.
_EARLY_CONVOLUTIONS = 9


def set_encoder_trainable(model, trainable: bool) -> None:
    """Freeze the whole encoder, or let all but its early stages learn."""
    from keras import layers

    encoder = model.get_layer("encoder")
    encoder.trainable = trainable
    if trainable:
        convolutions = [layer for layer in encoder.layers if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))]
        for layer in convolutions[:_EARLY_CONVOLUTIONS]:
            layer.trainable = False


def _conv(x, filters, precision, kernel=3, name=None):
    from keras import layers

    return layers.Conv2D(filters, kernel, padding="same", activation="relu", kernel_initializer="he_normal",
                         name=name, dtype=precision)(x)


def colouring_model(model, config, hint_input: bool = True):
    """A trained lite0_unet's body laid out to colour with (build(colouring=True)), its weights copied
    into the plain dtype policy of the precision it computes in: (lightness, embedding[, hints]) ->
    the features its logits are computed from (heads.Lite0Predictor)."""
    colouring = build(config, plain_policy(dtype_policy_of(model)), colouring=True, hint_input=hint_input,
                      encoder_precision=plain_policy(dtype_policy_of(model.get_layer("encoder"))))
    sources = [layer for layer in _weighted_layers(model) if layer.name != "ab_logits"]
    for source, target in zip(sources, _weighted_layers(colouring), strict=True):
        target.set_weights(source.get_weights())
    return colouring


def _weighted_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield layer


class Lite0Unet:
    """This architecture's entry in the registry (registry.Architecture)."""

    name = "lite0_unet"
    input_multiple = INPUT_MULTIPLE
    output_stride = OUTPUT_STRIDE
    logit_stride = LOGIT_STRIDE

    def problem(self, head: str, embedder: str) -> str | None:
        if head != "classification" or embedder != "efficientnet_lite0":
            return "takes --head classification and --embedder efficientnet_lite0"
        return None

    def build(self, config, precision: str = "float32", **options):
        return build(config, precision, **options)

    def inference_model(self, model, config):
        """The model to colour with: as trained (its batch normalisation is folded already)."""
        return model

    def predictor(self, model, config, cache_key=None):
        """Colorizer's predict(inputs, prior): heads.Lite0Predictor, on this model's body laid out to colour with."""
        from .heads import Lite0Predictor

        return Lite0Predictor(model, config, LOGIT_STRIDE // OUTPUT_STRIDE, cache_key=cache_key,
                              body=lambda hint_input: colouring_model(model(), config, hint_input), side=INPUT_MULTIPLE)
