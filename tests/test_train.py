"""`vidcolor train`: tiny runs on photos scikit-image ships, resume, and the evaluate report."""

import json

import cv2
import numpy as np
import pytest
import skimage.data

from vidcolor.train import PRESETS, TrainOptions, train


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
    history = config["trained"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[0]["val_grey"]["colourfulness"] < 1.0 < history[-1]["val"]["colourfulness"]
    assert (tmp_path / "run" / "sheets" / "epoch003.png").is_file()
    assert (tmp_path / "run" / "cache" / "efficientnet_lite0.npy").is_file()


def test_resume_continues_exactly_where_it_stopped(photo_dirs, tmp_path):
    train_dir, _ = photo_dirs
    straight = train(tiny(train_dir, tmp_path / "straight", head="regression", epochs=2), progress=False)
    train(tiny(train_dir, tmp_path / "split", head="regression", epochs=1), progress=False)
    state = json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())
    assert state["step"] == PRESETS["tiny"]["steps_per_epoch"]
    resumed = train(tiny(train_dir, tmp_path / "split", head="regression", epochs=2, resume=True), progress=False)
    assert json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())["step"] == 2 * state["step"]
    import h5py

    def weights(path):
        with h5py.File(path) as f:
            arrays = []
            f.visit(lambda name: arrays.append(np.array(f[name])) if isinstance(f[name], h5py.Dataset) else None)
            return arrays

    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_second_run_into_the_same_folder_needs_resume(photo_dirs, tmp_path):
    from vidcolor.errors import InputError

    train_dir, _ = photo_dirs
    train(tiny(train_dir, tmp_path / "run", epochs=1), progress=False)
    with pytest.raises(InputError, match="--resume"):
        train(tiny(train_dir, tmp_path / "run", epochs=1), progress=False)
