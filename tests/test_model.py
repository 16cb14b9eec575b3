"""The colorizer, its weights file + config, and the embedders (real TensorFlow, small inputs)."""

import json

import h5py
import numpy as np
import pytest
import skimage.data

from vidcolor.model import chroma_bins
from vidcolor.color import grey_from_lightness, lightness, scale_lightness
from vidcolor.model.embedders import load_embedder
from vidcolor.errors import ModelError
from vidcolor.model.hints import hint_channels
from vidcolor.model import (
    Colorizer,
    ModelConfig,
    build_colorizer,
    config_path,
    gpus,
    load_colorizer,
    save,
)

EGYPTIAN_CAT, TABBY, TIGER_CAT = 285, 281, 282


def classification_config(architecture="lite0_unet"):
    centres = chroma_bins.in_gamut_bins()
    return ModelConfig(architecture, head="classification", bins=centres.tolist(), bin_weights=[1.0] * len(centres))


@pytest.mark.parametrize("architecture,head", [("koalarization", "regression"), ("koalarization", "classification"),
                                               ("lite0_unet", "classification")])
def test_model_is_fully_convolutional_with_half_size_output(architecture, head):
    config = classification_config(architecture) if head == "classification" else ModelConfig(architecture, head=head)
    colorizer = Colorizer(build_colorizer(config), config, embedder=object())
    multiple = colorizer.input_multiple
    assert multiple == (32 if architecture == "lite0_unet" else 8) and colorizer.output_stride == 2
    for h, w in [(multiple * 2, multiple * 3), (multiple * 4, multiple * 2)]:
        ab = colorizer.predict_ab(np.full((2, h, w), 50.0, np.float32), np.zeros((2, 1000), np.float32))
        assert ab.shape == (2, h // 2, w // 2, 2)
        assert np.all(np.abs(ab) <= 128)


def test_lite0_unet_starts_from_imagenet_and_its_encoder_taps_five_strides():
    from vidcolor.model.embedders import lite0_imagenet_state, load_embedder

    config = classification_config("lite0_unet")
    model = build_colorizer(config, encoder_state=lite0_imagenet_state())
    encoder = model.get_layer("encoder")
    taps = encoder(np.zeros((1, 64, 96, 1), np.float32))
    assert [(t.shape[1], t.shape[2]) for t in taps] == [(64 // s, 96 // s) for s in (2, 4, 8, 16, 32)]
    # the encoder's first convolution is the embedder's: the same ImageNet weights
    embedder = load_embedder("efficientnet_lite0").model
    first = lambda m: next(layer for layer in m.layers if layer.__class__.__name__ == "Conv2D").get_weights()[0]
    np.testing.assert_allclose(first(encoder), first(embedder), rtol=1e-6)


def test_hints_are_inputs_of_lite0_unet_only():
    light, emb = np.full((1, 64, 64), 50.0, np.float32), np.zeros((1, 1000), np.float32)
    hints = np.zeros((1, 64, 64, 3), np.float32)
    config = classification_config("lite0_unet")
    unet = Colorizer(build_colorizer(config), config, embedder=object())
    assert unet.accepts_hints and unet.predict_ab(light, emb, hints).shape == (1, 32, 32, 2)
    np.testing.assert_allclose(unet.predict_ab(light, emb, hints), unet.predict_ab(light, emb), atol=1e-6)
    config = classification_config("koalarization")
    paper = Colorizer(build_colorizer(config), config, embedder=object())
    with pytest.raises(ModelError, match="no colour hints"):
        paper.predict_ab(light, emb, hints)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_lite0_unet_colours_as_its_plain_keras_model_does(precision):
    """Colorizer runs lite0_unet rebuilt for speed (heads.Lite0Predictor): frozen plain-dtype graph, no
    hint input without hints, temperature and prior correction folded into the logits, decoded in
    pieces on a CPU. Its a*b* must be the trained Keras model's, decoded as written, to float rounding:
    on the shipped weights and samples/*.jpg the two differed by at most 4e-5 a*b* units."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    config = classification_config("lite0_unet")
    config.bin_weights = rng.uniform(0.2, 5.0, len(config.bins)).tolist()
    config.prior_correction, config.muted_prior_correction, config.temperature = 0.5, 1.0, 0.38
    model = build_colorizer(config, precision)
    colorizer = Colorizer(model, config, embedder=object())
    light = rng.uniform(0, 100, (2, 64, 96)).astype(np.float32)
    emb = rng.normal(size=(2, 1000)).astype(np.float32)
    hints = np.zeros((2, 64, 96, 3), np.float32)
    hints[0, 10:20, 30:40] = (40.0, -30.0, 1.0)
    prior = rng.normal(size=(2, len(config.bins))).astype(np.float32)

    def plain(hints=None, prior=None, correction=config.prior_correction):
        given = np.zeros_like(light[..., None].repeat(3, -1)) if hints is None else hint_channels(hints, light.shape)
        logits = np.asarray(model([scale_lightness(light)[..., None], emb, given], training=False), np.float64)
        logits = logits - correction * np.log(config.bin_weights) + (0 if prior is None else prior[:, None, None])
        probs = np.exp((logits - logits.max(-1, keepdims=True)) / config.temperature)
        ab = (probs / probs.sum(-1, keepdims=True)) @ np.asarray(config.bins)
        return tf.image.resize(ab.astype(np.float32), (32, 48), method="bilinear").numpy()

    # without a prior: decoded in pieces on a CPU; with one: as a whole (as on a GPU); hints: the model taking them
    for kwargs in ({}, {"prior": prior}, {"hints": hints, "prior": prior}):
        np.testing.assert_allclose(colorizer.predict_ab(light, emb, **kwargs), plain(**kwargs), atol=2e-4)
    assert np.abs(plain() - plain(hints=hints)).max() > 0.1  # the hints count (the test sees the hinted model)
    # the muted style decodes with its own prior correction, the same model underneath
    muted = colorizer.styled("muted")
    np.testing.assert_allclose(muted.predict_ab(light, emb), plain(correction=1.0), atol=2e-4)
    assert np.abs(plain() - plain(correction=1.0)).max() > 0.1
    assert muted.model is colorizer.model and muted.styled("vivid") is colorizer and colorizer.styled("muted") is muted
    assert muted.identity != colorizer.identity  # a film resumed in the other style starts over


def test_a_model_without_a_muted_correction_colours_the_same_in_every_style():
    config = classification_config("lite0_unet")
    config.prior_correction = 0.5
    colorizer = Colorizer(build_colorizer(config), config, embedder=object())
    assert colorizer.styled("muted") is colorizer
    assert config.decoding("muted") == config.decoding("vivid") == config
    config.muted_prior_correction = 0.9
    assert config.decoding("muted").prior_correction == 0.9 and config.decoding("vivid").prior_correction == 0.5
    with pytest.raises(ValueError, match="style 'loud': must be one of vivid, muted"):
        config.decoding("loud")


def test_config_files_name_their_architecture_and_old_ones_are_the_papers(tmp_path):
    config = classification_config("lite0_unet")
    path = save(build_colorizer(config), config, tmp_path / "u.weights.h5")
    assert json.loads(config_path(path).read_text())["architecture"] == "lite0_unet"
    old = json.loads(config_path(path).read_text())
    del old["architecture"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert ModelConfig.from_file(tmp_path / "old.json").architecture == "koalarization"
    for text, message in [("", "not a vidcolor model config"), ("[1, 2]", "not a vidcolor model config"),
                          ('{"architecture": "vgg"}', "unknown architecture 'vgg'")]:
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ModelError, match=message):
            ModelConfig.from_file(tmp_path / "bad.json")


def test_weights_file_round_trips_to_identical_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCOLOR_PRECISION", "float32")
    config = classification_config()
    model = build_colorizer(config)
    path = save(model, config, tmp_path / "m.weights.h5")
    assert config_path(path).name == "m.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.weights.h5"]  # no temporary names left
    loaded = load_colorizer(path)
    assert loaded.config.head == "classification" and loaded.config.embedder == "efficientnet_lite0"
    rng = np.random.default_rng(0)
    light = rng.uniform(0, 100, (2, 32, 64)).astype(np.float32)
    emb = rng.normal(size=(2, 1000)).astype(np.float32)
    original = Colorizer(model, config, embedder=object()).predict_ab(light, emb)
    np.testing.assert_array_equal(loaded.predict_ab(light, emb), original)


@pytest.mark.parametrize("found,capability,cpu_info,chosen", [
    ([], None, "flags\t\t: fpu sse2 avx2 avx512f", "float32"),
    ([], None, "flags\t\t: fpu avx512f avx512_bf16", "mixed_bfloat16"),
    ([], None, "flags\t\t: fpu amx_bf16 amx_tile", "mixed_bfloat16"),
    ([], None, None, "float32"),  # no /proc/cpuinfo to read
    (["GPU:0"], (7, 5), "flags\t\t: amx_bf16", "mixed_float16"),  # a GPU decides, whatever the CPU has
    (["GPU:0"], (8, 0), None, "mixed_bfloat16"),
    (["GPU:0"], (0, 0), None, "mixed_float16"),  # TensorFlow did not tell its capability
    (["GPU:0"], None, None, "mixed_bfloat16"),  # another backend's GPU
])
def test_precision_is_chosen_by_the_gpus_and_the_cpu_flags(tmp_path, monkeypatch, found, capability, cpu_info, chosen):
    from vidcolor.model import backend

    monkeypatch.delenv("VIDCOLOR_PRECISION", raising=False)
    monkeypatch.setattr(backend, "gpus", lambda: found)
    monkeypatch.setattr(backend, "gpu_capability", lambda device: capability if device == "GPU:0" else "no such GPU")
    monkeypatch.setattr(backend, "CPU_INFO", tmp_path / "cpuinfo")
    if cpu_info is not None:
        (tmp_path / "cpuinfo").write_text(f"processor\t: 0\n{cpu_info}\n")
    assert backend.choose_precision() == chosen
    monkeypatch.setenv("VIDCOLOR_PRECISION", "float32")  # the user's choice comes first
    assert backend.choose_precision() == "float32"


def test_precision_is_chosen_as_asked(tmp_path, monkeypatch):
    from vidcolor.model import choose_precision

    monkeypatch.delenv("VIDCOLOR_PRECISION", raising=False)
    assert choose_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ModelError, match="precision 'half'"):
        choose_precision("half")
    config = ModelConfig("koalarization", head="regression")
    path = save(build_colorizer(config), config, tmp_path / "r.weights.h5")
    loaded = load_colorizer(path, precision="float32")
    assert loaded.precision == "float32" and loaded.batch_size == (32 if gpus() else 8)  # 8 on a CPU
    assert all(layer.compute_dtype == "float32" for layer in loaded.model.layers[3:])
    # the shipped model's first layers are its inputs and its encoder (a nested model): its own precision is told
    assert load_colorizer(precision="mixed_bfloat16").precision == "mixed_bfloat16"


def test_missing_weights_and_config_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no weights file"):
        load_colorizer(tmp_path / "none.weights.h5")
    config = ModelConfig("koalarization", head="regression")
    path = save(build_colorizer(config), config, tmp_path / "r.weights.h5")
    config_path(path).unlink()
    with pytest.raises(ModelError, match="config"):
        load_colorizer(path)


def test_efficientnet_conversion_recognises_the_grey_cat_and_is_cached(fresh_cache):
    embedder = load_embedder("efficientnet_lite0")
    grey = grey_from_lightness(lightness(skimage.data.chelsea()))
    logits = embedder.embed(grey)
    assert logits.shape == (1, 1000)
    assert int(np.argmax(logits[0])) in (TABBY, TIGER_CAT, EGYPTIAN_CAT)
    # converted from PyTorch in this run (conftest: a fresh VIDCOLOR_CACHE), kept, and read back the same
    assert len(list(fresh_cache.glob("efficientnet_lite0-folded-*.weights.h5"))) == 1
    assert not list(fresh_cache.glob(".*"))  # no temporary names left
    np.testing.assert_allclose(load_embedder("efficientnet_lite0").embed(grey), logits, rtol=1e-5, atol=1e-5)


def test_restricted_unpickler_refuses_code(tmp_path):
    import pickle

    from vidcolor.model.torch_weights import _SafeUnpickler

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    import io

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _SafeUnpickler(io.BytesIO(pickle.dumps(Evil(), protocol=2)), {}).load()


def test_inception_resnet_v2_needs_its_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    with pytest.raises(ModelError, match="Inception-ResNet-v2 ImageNet weights not found"):
        load_embedder("inception_resnet_v2")


@pytest.mark.slow  # about 40 s: Inception-ResNet-v2 is built twice
# Keras 3.15 warns for each of the Functional model's `_operations_by_depth` containers when loading a
# file it wrote itself, though every weight loads (the outputs are compared below)
@pytest.mark.filterwarnings("ignore:Skipping nested container at '_operations_by_depth/:UserWarning")
def test_inception_resnet_v2_loads_a_given_file_and_refuses_a_wrong_one(tmp_path):
    import keras

    random_model = keras.applications.InceptionResNetV2(weights=None, classifier_activation=None)
    path = tmp_path / "irv2.weights.h5"
    random_model.save_weights(str(path))
    embedder = load_embedder("inception_resnet_v2", path)
    grey = np.full((40, 60), 128, np.uint8)
    np.testing.assert_allclose(
        embedder.embed(grey), random_model.predict_on_batch(embedder.preprocess([grey])), rtol=1e-4, atol=1e-4
    )
    with h5py.File(tmp_path / "wrong.weights.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ModelError, match="not Inception-ResNet-v2 weights"):
        load_embedder("inception_resnet_v2", tmp_path / "wrong.weights.h5")


def test_unknown_embedder():
    with pytest.raises(ModelError, match="unknown embedder"):
        load_embedder("vgg99")


@pytest.mark.parametrize("user_setting", [None, "2"])
def test_model_leaves_one_core_to_the_other_stages_unless_told(tmp_path, user_setting):
    import os
    import subprocess
    import sys

    config = ModelConfig("koalarization", head="regression")
    path = save(build_colorizer(config), config, tmp_path / "r.weights.h5")
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    if user_setting:
        env["TF_NUM_INTRAOP_THREADS"] = user_setting
    code = ("import sys, tensorflow as tf; from vidcolor.model import load_colorizer; load_colorizer(sys.argv[1]); "
            "print(tf.config.threading.get_intra_op_parallelism_threads())")
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, check=True)
    # 0: TensorFlow's own choice, which the model keeps when the user set it or there is a GPU
    expected = 0 if user_setting or gpus() else max(1, len(os.sched_getaffinity(0)) - 1)
    assert int(out.stdout.split()[-1]) == expected


def test_keras_starts_without_its_optional_imports_which_still_import_afterwards():
    import subprocess
    import sys

    code = ("import sys; from vidcolor.model.backend import import_keras; import_keras(); "
            "print(sorted(n for n in ('jax', 'IPython') if n in sys.modules)); import jax; print(jax.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "jax"]
