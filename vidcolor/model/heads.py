"""From a colorizer's Keras model to a*b*: what Colorizer.predict_ab runs once its inputs are scaled.

A regression head's output is a*b* / 128. A classification head's logits are decoded by the
annealed mean (Zhang et al. 2016): the logits plus the prior correction and a reference's palette
prior (log-weights on the bins), divided by the temperature, softmax over the bins, their mean
colour. Each predictor is a function (inputs, prior or None) -> a*b* (B, h, w, 2) in Lab units,
traced once per kind of input by TensorFlow.

The lite0_unet colours fastest (Lite0Predictor): its body runs as lite0_unet.build(colouring=True)
lays it out, in the plain dtype policy of its precision (mixed precision casts every kernel on every
call), without the hint input when no hints are given; the temperature and the prior correction are folded
into the logits' kernel and bias, and on a CPU the logits and their decoding run one picture at a
time, so that the (h, w, bins) arrays stay in the cache. On 224x320 frames in batches of 8 with one
CPU thread (bench/bench_model.py, a 2-core AMX machine) this took bfloat16 inference from 15.3 to 10.3
ms a frame and float32 from 28.6 to 24.1 ms, for about 2 s more to load the model.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import numpy as np

from ..color import AB_SCALE
from .backend import gpus


def _correction(config) -> np.ndarray | float:
    if config.head == "classification" and config.prior_correction and config.bin_weights:
        return -config.prior_correction * np.log(np.asarray(config.bin_weights, np.float32))
    return 0.0


def _traced(function):
    import keras

    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    return tf.function(function, reduce_retracing=True)


def _upsampled(ab, factor: int):
    """Bilinear x factor (a*b* at the logits' stride -> at the colorizer's output stride)."""
    import keras

    if factor == 1:
        return ab
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.image.resize(ab, tf.shape(ab)[1:3] * factor, method="bilinear")
    return keras.ops.image.resize(ab, (ab.shape[1] * factor, ab.shape[2] * factor), interpolation="bilinear")


def predictor(model, config, factor: int):
    """predict(inputs, prior) for a model whose output is its head's, upsampled x factor."""
    import keras

    ops = keras.ops
    centres, correction = np.asarray(config.bins, np.float32), _correction(config)

    def predict(inputs, prior):
        out = ops.cast(model(inputs, training=False), "float32")
        if config.head == "regression":
            return out * AB_SCALE
        out = out + correction
        if prior is not None:  # a reference's palette; without one, adding its zeros changed nothing
            out = out + prior[:, None, None, :]
        ab = ops.einsum("bhwq,qc->bhwc", ops.softmax(out / config.temperature, axis=-1), centres)
        return _upsampled(ab, factor)

    return _traced(predict)


def _frozen(model):
    """model(inputs) as f(*inputs); with TensorFlow a graph whose weights are constants: oneDNN then keeps
    each kernel in the layout it computes with, where it rearranged all 53 of them on every call."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return lambda *inputs: model(list(inputs), training=False)
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32) for t in model.inputs]
    function = tf.function(lambda *inputs: model(list(inputs), training=False), input_signature=spec)
    concrete = function.get_concrete_function()
    with _quiet_stderr():  # Grappler's C++ start-up notes, which TF_CPP_MIN_LOG_LEVEL does not reach
        frozen = convert_variables_to_constants_v2(concrete)
    shape = (None,) + tuple(model.outputs[0].shape[1:])
    return lambda *inputs: tf.ensure_shape(frozen(*inputs)[0], shape)  # it answers [output], of unknown rank


@contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null for a while (C++ code writes there directly); Python errors still rise."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


_PIECES = 8


class Lite0Predictor:
    """predict(inputs, prior) for a trained lite0_unet (see the module's notes); the same colours as
    predictor(model, ...) within float rounding (tests/test_model.py holds them to it).

    body(hint_input): the model's body laid out to colour with, with or without the hint input, its
    output the features the logits are computed from (lite0_unet.colouring_model)."""

    def __init__(self, model, config, factor: int, body):
        import keras

        self._features = {False: _frozen(body(False))}
        self._build_hinted = lambda: _frozen(body(True))
        kernel, bias = model.get_layer("ab_logits").get_weights()
        self._kernel = (kernel[0, 0] / config.temperature).astype(np.float32)
        self._bias = ((bias + _correction(config)) / config.temperature).astype(np.float32)
        self._centres = np.asarray(config.bins, np.float32)
        self._temperature = config.temperature
        self._factor = factor
        # a CPU decodes in cache-sized pieces; a GPU takes the batch whole
        self._in_pieces = keras.backend.backend() == "tensorflow" and not gpus()
        self._predict = _traced(self._run)

    def __call__(self, inputs, prior):
        hinted = len(inputs) == 3
        if hinted not in self._features:  # hints are rare: that model is built on first use
            self._features[hinted] = self._build_hinted()
        return self._predict(inputs, prior)

    def _decode(self, features, prior=None):
        """(B, h, w, C) features, prior / temperature (B, 1, 1, Q) or None -> (B, h, w, 2) a*b*."""
        import keras

        ops = keras.ops
        logits = ops.einsum("...c,cq->...q", ops.cast(features, "float32"), self._kernel) + self._bias
        if prior is not None:
            logits = logits + prior
        return ops.einsum("...q,qc->...c", ops.softmax(logits, axis=-1), self._centres)

    def _decode_in_pieces(self, features):
        """_decode without a prior on a CPU: the pixels in 8 pieces (a batch of 8 pictures' (h * w, Q)
        logits stay in the cache one picture at a time), each as 2-D TensorFlow ops, the bias joined to
        the matrix product (oneDNN fuses them). Lite0's h and w are multiples of 8, so 8 divides B*h*w."""
        import tensorflow as tf

        shape = tf.shape(features)
        pixels = tf.reshape(tf.cast(features, tf.float32), (-1, shape[-1]))
        ab = [tf.einsum("nq,qc->nc", tf.nn.softmax(tf.nn.bias_add(piece @ self._kernel, self._bias), axis=-1),
                        self._centres) for piece in tf.split(pixels, _PIECES)]
        return tf.reshape(tf.concat(ab, 0), tf.concat([shape[:-1], [2]], 0))

    def _run(self, inputs, prior):
        features = self._features[len(inputs) == 3](*inputs)
        if prior is None and self._in_pieces:
            return _upsampled(self._decode_in_pieces(features), self._factor)
        prior = None if prior is None else prior[:, None, None, :] / self._temperature
        return _upsampled(self._decode(features, prior), self._factor)
