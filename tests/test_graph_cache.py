"""The graph cache (vidcolor/model/graph_cache.py): a colorizer started from it colours exactly as one
that made its graphs, without loading its Keras model; a damaged or foreign entry is made again."""

import json

import numpy as np
import pytest

import vidcolor.model.config
from vidcolor.model import (Colorizer, ModelConfig, build_colorizer, chroma_bins, config_path, load_colorizer,
                            load_keras_model, save)
from vidcolor.model.graph_cache import Graph, GraphStore, frozen, graph_key

RNG = np.random.default_rng(5)
LIGHT = RNG.uniform(0, 100, (2, 64, 96)).astype(np.float32)
EMBEDDING = RNG.normal(size=(2, 1000)).astype(np.float32)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache of this test's own."""
    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "graphs"


def weights_file(folder, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    centres = chroma_bins.in_gamut_bins()
    config = ModelConfig(head="classification", bins=centres.tolist(), bin_weights=[1.0] * len(centres),
                         prior_correction=0.5)
    return save(build_colorizer(config), config, folder / f"m{seed}.weights.h5")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return weights_file(folder, 1), weights_file(folder, 2)


def colours(path, **kwargs):
    return load_colorizer(path, precision="float32").predict_ab(LIGHT, EMBEDDING, **kwargs)


def no_keras_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the Keras model was loaded")

    monkeypatch.setattr(vidcolor.model.config, "load_keras_model", refuse)


def test_a_cached_graph_colours_exactly_as_a_new_one_without_the_keras_model(two_models, cache, monkeypatch):
    path = two_models[0]
    made = colours(path)
    _, model = load_keras_model(path, "float32")  # the same model in memory, its graph made and not kept
    np.testing.assert_array_equal(Colorizer(model, ModelConfig.from_file(config_path(path))).predict_ab(
        LIGHT, EMBEDDING), made)
    assert len(list(cache.glob("*.pb"))) == len(list(cache.glob("*.json"))) == 1
    assert not list(cache.glob(".*"))  # no temporary names left
    sidecar = json.loads(next(cache.glob("*.json")).read_text())
    assert sidecar["key"]["precision"] == "float32" and len(sidecar["key"]["weights"]) == 64
    with monkeypatch.context() as patch:
        no_keras_model(patch)
        started = load_colorizer(path, precision="float32")
        np.testing.assert_array_equal(started.predict_ab(LIGHT, EMBEDDING), made)
        assert started.precision == "float32" and started.accepts_hints
    # a prior, a style: graphs of their own, made once, read back the same
    prior = RNG.normal(size=(2, len(chroma_bins.in_gamut_bins()))).astype(np.float32)
    with_prior = colours(path, prior=prior)
    assert np.abs(with_prior - made).max() > 0.1 and len(list(cache.glob("*.pb"))) == 2
    with monkeypatch.context() as patch:
        no_keras_model(patch)
        np.testing.assert_array_equal(colours(path, prior=prior), with_prior)


@pytest.mark.parametrize("damage", ["truncated", "one byte", "sidecar", "no sidecar"])
def test_a_damaged_entry_is_made_again_not_trusted(two_models, cache, damage):
    path = two_models[0]
    made = colours(path)
    graph, sidecar = next(cache.glob("*.pb")), next(cache.glob("*.json"))
    data = graph.read_bytes()
    if damage == "truncated":
        graph.write_bytes(data[: len(data) // 2])
    elif damage == "one byte":
        middle = len(data) // 2  # inside a kernel's constant: the graph still parses
        graph.write_bytes(data[:middle] + bytes([data[middle] ^ 64]) + data[middle + 1:])
    elif damage == "sidecar":
        sidecar.write_text("{")
    else:
        sidecar.unlink()
    np.testing.assert_array_equal(colours(path), made)
    assert GraphStore(cache).load(json.loads(sidecar.read_text())["key"]) is not None  # made and kept again


def test_a_foreign_entry_is_not_used(two_models, cache):
    first, second = two_models
    first_colours = colours(first)
    (foreign,) = cache.glob("*.pb")
    own = colours(second)
    assert np.abs(own - first_colours).max() > 0.1  # the two models colour differently
    # the first model's entry put where the second's is looked for: its sidecar names other weights
    (ours,) = set(cache.glob("*.pb")) - {foreign}
    for suffix in (".pb", ".json"):
        ours.with_suffix(suffix).write_bytes(foreign.with_suffix(suffix).read_bytes())
    np.testing.assert_array_equal(colours(second), own)
    assert json.loads(ours.with_suffix(".json").read_text())["key"]["weights"] != json.loads(
        foreign.with_suffix(".json").read_text())["key"]["weights"]  # made again, under its own key


def test_a_graph_that_would_do_more_than_compute_is_refused(cache):
    import tensorflow as tf
    from tensorflow.core.framework import function_pb2

    def writes(x):
        tf.io.write_file("/tmp/vidcolor-graph-cache-test", tf.strings.as_string(x[0]))
        return x * 2

    concrete = tf.function(writes, input_signature=[tf.TensorSpec((None,), tf.float32)]).get_concrete_function()
    store, key = GraphStore(cache), graph_key(graph="test")
    store.save(key, frozen(concrete))
    assert store.load(key) is None
    store.save(key, Graph(b"not a graph", ((None,),)))
    assert store.load(key) is None
    doubles = frozen(tf.function(lambda x: x * 2, input_signature=[tf.TensorSpec((None,), tf.float32)])
                     .get_concrete_function())
    store.save(key, doubles)
    assert store.load(key) == doubles  # a function that only computes is kept
    calls = function_pb2.FunctionDef.FromString(doubles.data)
    call = calls.node_def.add(name="call", op="PartitionedCall")  # runs a function the entry does not hold
    call.attr["f"].func.name = "elsewhere"
    store.save(key, Graph(calls.SerializeToString(), doubles.inputs))
    assert store.load(key) is None


def test_the_embedder_graph_embeds_as_its_keras_model_and_is_read_back(monkeypatch):
    import skimage.data

    from vidcolor.color import grey_from_lightness, lightness
    from vidcolor.model import embedders

    grey = grey_from_lightness(lightness(skimage.data.chelsea()))
    keras_logits = embedders.load_embedder("efficientnet_lite0").embed(grey)
    graph_logits = embedders.colouring_embedder("efficientnet_lite0").embed(grey)
    np.testing.assert_allclose(graph_logits, keras_logits, rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(embedders, "load_embedder", lambda *args: pytest.fail("the Keras embedder was built"))
    np.testing.assert_array_equal(embedders.colouring_embedder("efficientnet_lite0").embed(grey), graph_logits)



def test_a_cached_colorizer_starts_on_tensorflows_runtime_alone(two_models, cache, tmp_path):
    """A new process whose graphs are all in the cache colours without importing Keras or TensorFlow's
    API (tf_runtime.py), exactly as this one does; TensorFlow is whole again once anything asks it for more."""
    import subprocess
    import sys

    path = two_models[0]
    made = colours(path)
    np.save(tmp_path / "light.npy", LIGHT)
    np.save(tmp_path / "embedding.npy", EMBEDDING)
    script = f"""
import sys
import numpy as np
from vidcolor.model import load_colorizer
from vidcolor.model.tf_runtime import unfinished
colorizer = load_colorizer({str(path)!r}, precision="float32")
np.save({str(tmp_path / "ab.npy")!r}, colorizer.predict_ab(np.load({str(tmp_path / "light.npy")!r}),
                                                           np.load({str(tmp_path / "embedding.npy")!r})))
assert "keras" not in sys.modules and unfinished(), "Keras or TensorFlow's API was imported"
import tensorflow as tf
assert float(tf.reduce_sum(tf.ones((2, 3)))) == 6.0 and tf.executing_eagerly() and not unfinished()
import keras
assert keras.layers.Dense(2)(tf.ones((1, 3))).shape == (1, 2)
"""
    subprocess.run([sys.executable, "-c", script], check=True, env={**__import__("os").environ,
                                                                   "VIDCOLOR_CACHE": str(cache.parent)})
    np.testing.assert_array_equal(np.load(tmp_path / "ab.npy"), made)


def test_a_graph_readied_in_the_background_computes_as_one_that_was_not(two_models, cache):
    from vidcolor.model.graph_cache import GraphFunction

    colours(two_models[0])
    sidecar = json.loads(next(cache.glob("*.json")).read_text())
    graph = GraphStore(cache).load(sidecar["key"])
    inputs = (LIGHT[..., None] / 50 - 1, EMBEDDING)
    plain, warmed = GraphFunction(graph), GraphFunction(graph)
    warmed.warm_up(32)
    np.testing.assert_array_equal(np.asarray(warmed(*inputs)), np.asarray(plain(*inputs)))
