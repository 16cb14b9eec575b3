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
time, so that the (h, w, bins) arrays stay in the cache. All of it runs as one frozen graph, its weights
constants: oneDNN then keeps each kernel in the layout it computes with, where it rearranged all 53 of
them on every call. On 224x320 frames in batches of 8 with one CPU thread (bench/bench_model.py, a
2-core AMX machine) this took bfloat16 inference from 15.3 to 10.3 ms a frame and float32 from 28.6
to 24.1 ms. Making that graph takes seconds; it is kept in the cache (graph_cache.py).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..color import AB_SCALE
from .backend import gpus, tensorflow_backend


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


_PIECES = 8


class Lite0Predictor:
    """predict(inputs, prior) for a trained lite0_unet (see the module's notes); the same colours as
    predictor(model, ...) within float rounding (tests/test_model.py holds them to it).

    With TensorFlow each kind of call (with or without hints, with or without a prior) runs one frozen
    graph, body and decoding together, made on first use or read from the graph cache (graph_cache.py).
    trained(): the model as trained, loaded only when a graph must be made; body(hint_input): its body
    laid out to colour with, with or without the hint input, its output the features the logits are
    computed from (lite0_unet.colouring_model); cache_key: what names the model in the cache (its
    weights' digest and precision), None: its graphs are not kept."""

    accepts_hints = True

    def __init__(self, trained, config, factor: int, body, cache_key: dict | None = None, side: int = 32):
        self._trained, self._body, self._config, self._factor = trained, body, config, factor
        self._cache_key = cache_key
        self._tensorflow = tensorflow_backend()
        # a CPU decodes in cache-sized pieces; a GPU takes the batch whole
        self._in_pieces = self._tensorflow and not gpus()
        self._graphs = {}
        usual = self._graph(False, False)  # the usual one at once: a model that cannot load says so before any work
        if self._tensorflow:
            usual.warm_up(side)  # on a side x side picture (side: a size the model takes)

    def __call__(self, inputs, prior):
        return self._graph(len(inputs) == 3, prior is not None)(*inputs, *([] if prior is None else [prior]))

    def _graph(self, hinted: bool, with_prior: bool):
        """The function for this kind of call (hints are rare: that graph is made on first use)."""
        kind = (hinted, with_prior)
        if kind not in self._graphs:
            if not self._tensorflow:
                self._graphs[kind] = self._colouring(hinted, with_prior)[0]
            else:
                from .graph_cache import GraphStore, cached_function, graph_key

                decoding = hashlib.sha256(self._config.to_json().encode()).hexdigest()
                key = graph_key(graph="lite0_unet", **(self._cache_key or {}), decoding=decoding, hints=hinted,
                                prior=with_prior, pieces=self._in_pieces, factor=self._factor)
                store = GraphStore() if self._cache_key is not None else None
                self._graphs[kind] = cached_function(store, key, lambda: self._frozen(hinted, with_prior))
        return self._graphs[kind]

    def _frozen(self, hinted: bool, with_prior: bool):
        """The frozen graph of this kind of call (graph_cache.Graph), its inputs of any batch and size."""
        import tensorflow as tf

        from .graph_cache import frozen

        run, body = self._colouring(hinted, with_prior)
        spec = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32) for t in body.inputs]
        if with_prior:
            spec.append(tf.TensorSpec((None, len(self._config.bins)), tf.float32))
        return frozen(tf.function(run, input_signature=spec).get_concrete_function())  # body in scope

    def _colouring(self, hinted: bool, with_prior: bool):
        """(run(*inputs[, prior]) -> a*b*, the body it runs), the temperature and the prior correction
        folded into the logits' kernel and bias."""
        body = self._body(hinted)
        kernel, bias = self._trained().get_layer("ab_logits").get_weights()
        temperature = self._config.temperature
        kernel = (kernel[0, 0] / temperature).astype(np.float32)
        bias = ((bias + _correction(self._config)) / temperature).astype(np.float32)
        centres, count = np.asarray(self._config.bins, np.float32), len(body.inputs)

        def run(*args):
            features = body(list(args[:count]), training=False)
            if not with_prior and self._in_pieces:
                return _upsampled(_decode_in_pieces(features, kernel, bias, centres), self._factor)
            prior = args[count][:, None, None, :] / temperature if with_prior else None
            return _upsampled(_decode(features, kernel, bias, centres, prior), self._factor)

        return run, body


def _decode(features, kernel, bias, centres, prior=None):
    """(B, h, w, C) features, prior / temperature (B, 1, 1, Q) or None -> (B, h, w, 2) a*b*."""
    import keras

    ops = keras.ops
    logits = ops.einsum("...c,cq->...q", ops.cast(features, "float32"), kernel) + bias
    if prior is not None:
        logits = logits + prior
    return ops.einsum("...q,qc->...c", ops.softmax(logits, axis=-1), centres)


def _decode_in_pieces(features, kernel, bias, centres):
    """_decode without a prior on a CPU: the pixels in 8 pieces (a batch of 8 pictures' (h * w, Q)
    logits stay in the cache one picture at a time), each as 2-D TensorFlow ops, the bias joined to
    the matrix product (oneDNN fuses them). Lite0's h and w are multiples of 8, so 8 divides B*h*w."""
    import tensorflow as tf

    shape = tf.shape(features)
    pixels = tf.reshape(tf.cast(features, tf.float32), (-1, shape[-1]))
    ab = [tf.einsum("nq,qc->nc", tf.nn.softmax(tf.nn.bias_add(piece @ kernel, bias), axis=-1), centres)
          for piece in tf.split(pixels, _PIECES)]
    return tf.reshape(tf.concat(ab, 0), tf.concat([shape[:-1], [2]], 0))
