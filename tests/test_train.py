"""`vidcolor train`: tiny runs on photos scikit-image ships, resume, and the evaluate report."""

import json

import cv2
import numpy as np
import pytest
import skimage.data

from vidcolor.training.train import PRESETS, TrainOptions, train


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    train_dir, val_dir = root / "train", root / "val"
    train_dir.mkdir()
    val_dir.mkdir()
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    for i, photo in enumerate(photos):
        small = cv2.resize(photo, (96, 64), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(train_dir / f"p{i}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(train_dir / f"p{i}_flip.jpg"), cv2.cvtColor(small[:, ::-1], cv2.COLOR_RGB2BGR))
    for i, photo in enumerate(photos[:2]):
        small = cv2.resize(photo[::-1], (80, 56), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(val_dir / f"v{i}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return train_dir, val_dir


def tiny(train_dir, run_dir, **overrides):
    values = dict(PRESETS["tiny"])
    values.update(overrides)
    return TrainOptions(data_dir=train_dir, run_dir=run_dir, **values)


@pytest.fixture(autouse=True)
def float32(monkeypatch):
    monkeypatch.setenv("VIDCOLOR_PRECISION", "float32")


def test_tiny_run_writes_weights_pictures_and_its_loss_falls(photo_dirs, tmp_path):
    train_dir, val_dir = photo_dirs
    path = train(tiny(train_dir, tmp_path / "run", val_dir=val_dir, epochs=3, steps_per_epoch=8), progress=False)
    config = json.loads(path.with_name("vidcolor.json").read_text())
    assert config["head"] == "classification" and config["trained"]["steps"] == 24
    assert config["trained"]["embedding_swap"] == 0.0
    history = config["trained"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[0]["val_grey"]["colorfulness"] < 1.0 < history[-1]["val"]["colorfulness"]
    assert (tmp_path / "run" / "sheets" / "epoch003.png").is_file()
    assert (tmp_path / "run" / "cache" / "efficientnet_lite0.npy").is_file()


@pytest.mark.parametrize("architecture,head", [
    ("lite0_unet", "classification"),
    # the paper's model resumes the same way, without the phase switch: kept for `pytest -m slow` (~50 s)
    pytest.param("koalarization", "regression", marks=pytest.mark.slow),
])
def test_resume_continues_exactly_where_it_stopped(photo_dirs, tmp_path, architecture, head):
    """For lite0_unet the resume falls on the switch from the frozen encoder to fine-tuning."""
    train_dir, _ = photo_dirs
    settings = dict(architecture=architecture, head=head, embedding_swap=0.5)
    straight = train(tiny(train_dir, tmp_path / "straight", epochs=2, **settings), progress=False)
    train(tiny(train_dir, tmp_path / "split", epochs=1, **settings), progress=False)
    state = json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())
    assert state["step"] == PRESETS["tiny"]["steps_per_epoch"] == PRESETS["tiny"]["freeze_steps"]
    resumed = train(tiny(train_dir, tmp_path / "split", epochs=2, resume=True, **settings), progress=False)
    assert json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())["step"] == 2 * state["step"]
    for a, b in zip(h5_arrays(straight), h5_arrays(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_second_run_into_the_same_folder_needs_resume(photo_dirs, tmp_path):
    from vidcolor.errors import InputError

    train_dir, _ = photo_dirs
    train(tiny(train_dir, tmp_path / "run", epochs=1), progress=False)
    with pytest.raises(InputError, match="--resume"):
        train(tiny(train_dir, tmp_path / "run", epochs=1), progress=False)


def h5_arrays(path):
    import h5py

    with h5py.File(path) as f:
        arrays = []
        f.visit(lambda name: arrays.append(np.array(f[name])) if isinstance(f[name], h5py.Dataset) else None)
        return arrays


def encoder_weights(path):
    from vidcolor.model import load_keras_model

    return load_keras_model(path)[1].get_layer("encoder").get_weights()


def test_the_imagenet_encoder_is_frozen_first_then_fine_tuned(photo_dirs, tmp_path):
    from vidcolor.model.embedders import lite0_imagenet_state
    from vidcolor.model import build_colorizer

    train_dir, _ = photo_dirs
    train(tiny(train_dir, tmp_path / "run", epochs=2), progress=False)  # frozen for the first 4 steps (epoch 1)
    epochs = tmp_path / "run" / "epochs"
    config = json.loads((epochs / "epoch001.json").read_text())
    assert config["architecture"] == "lite0_unet" and config["trained"]["freeze_steps"] == 4
    from vidcolor.model import ModelConfig

    imagenet = build_colorizer(ModelConfig.from_file(epochs / "epoch001.json"),
                               encoder_state=lite0_imagenet_state()).get_layer("encoder").get_weights()
    for a, b in zip(encoder_weights(epochs / "epoch001.weights.h5"), imagenet):
        np.testing.assert_array_equal(a, b)
    changed = [not np.array_equal(a, b) for a, b in zip(encoder_weights(epochs / "epoch002.weights.h5"), imagenet)]
    assert sum(changed) > len(changed) // 2


def test_init_starts_from_the_given_weights(photo_dirs, tmp_path):
    train_dir, _ = photo_dirs
    first = train(tiny(train_dir, tmp_path / "first", epochs=1), progress=False)
    again = train(tiny(train_dir, tmp_path / "again", epochs=1, init=first, learning_rate=0.0), progress=False)
    for a, b in zip(h5_arrays(first), h5_arrays(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads(again.with_name("vidcolor.json").read_text())["trained"]["init"] == str(first)


@pytest.mark.slow  # about a minute: a training run under JAX in a subprocess
def test_the_same_training_runs_under_jax_and_its_weights_load_in_tensorflow(photo_dirs, tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    from vidcolor.model import load_colorizer

    train_dir, _ = photo_dirs
    env = {**os.environ, "KERAS_BACKEND": "jax", "VIDCOLOR_PRECISION": "float32"}
    subprocess.run([sys.executable, "-m", "vidcolor", "train", str(train_dir), str(tmp_path / "run"), "--preset", "tiny",
                    "-q"], env=env, check=True, capture_output=True)
    path = tmp_path / "run" / "vidcolor.weights.h5"
    assert json.loads(path.with_name("vidcolor.json").read_text())["trained"]["backend"] == "jax"
    colorizer = load_colorizer(path, precision="float32")  # this process runs TensorFlow
    ab = colorizer.predict_ab(np.full((1, 64, 64), 50.0, np.float32), np.zeros((1, 1000), np.float32))
    assert ab.shape == (1, 32, 32, 2) and np.isfinite(ab).all()


def test_neutral_weight_makes_colour_on_neutral_truth_cost_more_and_leaves_colourful_truth_alone():
    from vidcolor.model import ModelConfig
    from vidcolor.model.chroma_bins import in_gamut_bins, nearest_bin
    from vidcolor.training.train import make_loss

    centres = in_gamut_bins()
    config = ModelConfig(head="classification", bins=centres.tolist(), bin_weights=[1.0] * len(centres))
    red_logits = np.zeros((1, 1, 1, len(centres)), np.float32)
    red_logits[..., nearest_bin(np.array([50.0, 40.0]), centres)] = 6.0
    neutral, colourful = np.array([[[[3.0, -4.0]]]], np.float32), np.array([[[[50.0, 40.0]]]], np.float32)
    plain, heavy = make_loss(config), make_loss(config, neutral_weight=4.0)
    assert float(heavy(neutral, red_logits)) == pytest.approx(4.0 * float(plain(neutral, red_logits)), rel=1e-5)
    assert float(heavy(colourful, red_logits)) == pytest.approx(float(plain(colourful, red_logits)), rel=1e-6)
