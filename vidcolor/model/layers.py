"""The custom Keras layers the architectures are built of (koalarization.py, lite0_unet.py).

Imported only where a model is built: this module imports Keras at its top.
"""

from __future__ import annotations

import keras

HINT_CHANNELS = 3  # a*/128, b*/128 and a mask (1 where a colour is given): hints.py


class TileEmbedding(keras.layers.Layer):
    """Repeat a (B, D) embedding over the spatial grid of a (B, h, w, C) feature map."""

    def call(self, inputs):
        features, embedding = inputs
        shape = keras.ops.shape(features)
        tiled = keras.ops.reshape(embedding, (shape[0], 1, 1, -1))
        return keras.ops.broadcast_to(tiled, (shape[0], shape[1], shape[2], keras.ops.shape(embedding)[-1]))


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


class NoHints(keras.layers.Layer):
    """What HintPyramid makes of hints that are all zeros (zeros at strides 2, 4, ...), from the
    lightness' shape alone: colouring without hints skips reading and pooling a full-size input."""

    def __init__(self, levels: int, **kwargs):
        super().__init__(**kwargs)
        self.levels = levels

    def call(self, light):
        shape = keras.ops.shape(light)
        return [keras.ops.zeros((shape[0], shape[1] // 2**k, shape[2] // 2**k, HINT_CHANNELS), self.compute_dtype)
                for k in range(1, self.levels + 1)]


class ThreeChannels(keras.layers.Layer):
    """Concatenate()([x, x, x]) of a one-channel x, as one broadcast (on a CPU the concatenation
    took as long as the convolution after it)."""

    def call(self, inputs):
        shape = keras.ops.shape(inputs[0])
        return keras.ops.broadcast_to(inputs[0], (shape[0], shape[1], shape[2], len(inputs)))


class NearestTwice(keras.layers.Layer):
    """UpSampling2D(2, "nearest") as one resize op where the backend has one (UpSampling2D repeats
    rows, then columns)."""

    def call(self, x):
        if keras.backend.backend() != "tensorflow":
            return keras.ops.repeat(keras.ops.repeat(x, 2, axis=1), 2, axis=2)
        import tensorflow as tf

        return tf.image.resize(x, tf.shape(x)[1:3] * 2, method="nearest")
