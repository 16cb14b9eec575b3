"""Training: cached embeddings, random crops, resumable checkpoints, validation pictures.

The embedding of each training image (its grey version seen by the ImageNet
classifier) never changes during training, so it is computed once and cached
in RUN_DIR/cache. Batch k is drawn from a generator seeded with (seed, k), so a
run resumed at step k sees exactly the batches an uninterrupted run would have.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from . import chroma_bins
from .color import grey_from_lightness, lightness, rgb_to_lab, scale_ab, scale_lightness
from .errors import InputError
from .images import IMAGE_SUFFIXES, read_image

PRESETS = {
    "tiny": dict(crop=32, batch_size=4, epochs=2, steps_per_epoch=4, val_images=2, checkpoint_every=2),
}


@dataclass
class TrainOptions:
    data_dir: Path
    run_dir: Path
    val_dir: Path | None = None
    head: str = "classification"
    embedder: str = "efficientnet_lite0"
    crop: int = 128
    batch_size: int = 16
    epochs: int = 10
    steps_per_epoch: int | None = None  # default: one pass over the images
    learning_rate: float = 1e-3
    seed: int = 0
    val_images: int = 48
    checkpoint_every: int = 200
    resume: bool = False
    max_images: int | None = None
    extra: dict = field(default_factory=dict)


def list_images(folder: Path, limit: int | None = None) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{folder}: no images found")
    return files[:limit] if limit else files


class ImageSet:
    """Colour images held in memory as uint8 RGB, with their cached embeddings."""

    def __init__(self, files: list[Path], cache: Path, embedder_name: str):
        self.files = files
        self.cache = cache
        self.images = [read_image(f) for f in tqdm(files, desc="loading images", unit="img")]
        # the embedder's name keys the cache: embeddings of another embedder are never reused
        self.embeddings = self.cached(embedder_name, lambda: self._embed_all(embedder_name))

    def cached(self, name: str, compute) -> np.ndarray:
        """An array computed from the images once, kept in the cache folder (keyed by the file list)."""
        key = [name] + [f"{f}:{f.stat().st_size}" for f in self.files]
        index, store = self.cache / f"{name}.json", self.cache / f"{name}.npy"
        if index.is_file() and store.is_file() and json.loads(index.read_text()) == key:
            return np.load(store)
        values = compute()
        self.cache.mkdir(parents=True, exist_ok=True)
        np.save(self.cache / "partial.npy", values)
        os.replace(self.cache / "partial.npy", store)
        index.write_text(json.dumps(key))
        return values

    def _embed_all(self, embedder_name: str) -> np.ndarray:
        from .embedders import load_embedder

        embedder = load_embedder(embedder_name)
        rows, chunk = [], 32
        with tqdm(total=len(self.images), desc="embedding images", unit="img") as bar:
            for start in range(0, len(self.images), chunk):
                greys = [grey_from_lightness(lightness(im)) for im in self.images[start : start + chunk]]
                rows.append(embedder.embed_many(greys))
                bar.update(len(greys))
        return np.concatenate(rows).astype(np.float32)

    def batch(self, rng: np.random.Generator, size: int, crop: int) -> tuple[np.ndarray, ...]:
        """Random crops and flips -> (L scaled (B, c, c, 1), embeddings (B, 1000), a*b* at half size (B, c/2, c/2, 2))."""
        picks = rng.integers(0, len(self.images), size)
        lights, abs_ = [], []
        for i in picks:
            image = self.images[i]
            h, w = image.shape[:2]
            if min(h, w) < crop:
                scale = crop / min(h, w)
                image = cv2.resize(image, (max(crop, round(w * scale)), max(crop, round(h * scale))))
                h, w = image.shape[:2]
            y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            patch = image[y : y + crop, x : x + crop]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            lab = rgb_to_lab(patch)
            lights.append(scale_lightness(lab[..., 0])[..., None])
            half = cv2.resize(lab[..., 1:], (crop // 2, crop // 2), interpolation=cv2.INTER_AREA)
            abs_.append(half)
        return np.stack(lights), self.embeddings[picks], np.stack(abs_).astype(np.float32)


def bin_counts(images: list[np.ndarray], centres: np.ndarray, per_image: int = 2000, seed: int = 0) -> np.ndarray:
    """How often each a*b* bin occurs in the training images (a random sample of pixels of each)."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(centres), np.int64)
    for image in images:
        ab = rgb_to_lab(image)[..., 1:].reshape(-1, 2)
        sample = ab[rng.integers(0, len(ab), per_image)]
        counts += np.bincount(chroma_bins.nearest_bin(sample, centres), minlength=len(centres))
    return counts


def make_loss(config):
    import tensorflow as tf

    if config.head == "regression":

        def loss(out, ab):
            return tf.reduce_mean(tf.square(out - scale_ab(1.0) * ab))

        return loss
    centres = tf.constant(np.asarray(config.bins, np.float32))
    weights = tf.constant(np.asarray(config.bin_weights, np.float32))
    sigma2 = 2.0 * chroma_bins.SOFT_SIGMA**2

    def loss(logits, ab):
        d2 = tf.reduce_sum(tf.square(ab[..., None, :] - centres), axis=-1)
        target = tf.nn.softmax(-d2 / sigma2, axis=-1)
        cross_entropy = -tf.reduce_sum(target * tf.nn.log_softmax(logits, axis=-1), axis=-1)
        return tf.reduce_mean(cross_entropy * tf.gather(weights, tf.argmin(d2, axis=-1)))

    return loss


class Checkpoint:
    """RUN_DIR/checkpoint: weights, optimizer state and progress, replaced as a whole folder."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir / "checkpoint"
        self.old = run_dir / "checkpoint.old"

    def save(self, model, optimizer, state: dict) -> None:
        tmp = self.dir.with_name("checkpoint.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_weights(str(tmp / "model.weights.h5"))
        np.savez(tmp / "optimizer.npz", *[np.asarray(v) for v in optimizer.variables])
        (tmp / "state.json").write_text(json.dumps(state, indent=1, default=str))
        if self.dir.exists():
            self.dir.rename(self.old)
        tmp.rename(self.dir)
        shutil.rmtree(self.old, ignore_errors=True)

    def load(self, model, optimizer) -> dict | None:
        folder = self.dir if self.dir.exists() else self.old if self.old.exists() else None
        if folder is None:
            return None
        model.load_weights(str(folder / "model.weights.h5"))
        optimizer.build(model.trainable_variables)
        saved = np.load(folder / "optimizer.npz")
        for variable, key in zip(optimizer.variables, sorted(saved.files, key=lambda k: int(k.split("_")[1]))):
            variable.assign(saved[key])
        return json.loads((folder / "state.json").read_text())


def train(options: TrainOptions, progress: bool = True) -> Path:
    """Train (or resume) a colorizer; returns the path of the exported weights file."""
    import keras
    import tensorflow as tf

    from . import model as model_lib

    run_dir = Path(options.run_dir)
    if run_dir.exists() and (run_dir / "checkpoint").exists() and not options.resume:
        raise InputError(f"{run_dir}: a run is already there (use --resume to continue it, or another folder)")
    run_dir.mkdir(parents=True, exist_ok=True)
    files = list_images(options.data_dir, options.max_images)
    data = ImageSet(files, run_dir / "cache", options.embedder)

    config = model_lib.ModelConfig(embedder=options.embedder, head=options.head)
    if options.head == "classification":
        centres = chroma_bins.in_gamut_bins()
        counts = data.cached("bin_counts", lambda: bin_counts(data.images, centres, seed=options.seed))
        config.bins = centres.tolist()
        config.bin_weights = chroma_bins.rebalance_weights(counts, centres).tolist()

    keras.utils.set_random_seed(options.seed)
    model = model_lib.build_colorizer(config, model_lib.choose_precision())
    optimizer = keras.optimizers.Adam(options.learning_rate)
    loss_fn = make_loss(config)
    state = Checkpoint(run_dir).load(model, optimizer) if options.resume else None
    optimizer.learning_rate = options.learning_rate  # a resumed run may continue at another rate
    state = state or {"step": 0, "epoch": 0, "history": [], "seconds": 0.0}

    @tf.function
    def train_step(light, embedding, ab):
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.cast(model([light, embedding], training=True), tf.float32), ab)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    steps_per_epoch = options.steps_per_epoch or max(1, len(files) // options.batch_size)
    total = steps_per_epoch * options.epochs
    val = _Validation(options, config, run_dir) if options.val_dir else None
    checkpoint = Checkpoint(run_dir)
    started = time.time() - state["seconds"]
    bar = tqdm(total=total, initial=state["step"], desc="training", unit="step", disable=not progress)
    losses: list[float] = []
    for step, batch in zip(range(state["step"], total), _batches(data, options, state["step"])):
        losses.append(float(train_step(*batch)))
        state["step"] = step + 1
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        end_of_epoch = state["step"] % steps_per_epoch == 0
        if end_of_epoch:
            state["epoch"] = state["step"] // steps_per_epoch
            entry = {"epoch": state["epoch"], "step": state["step"], "loss": float(np.mean(losses[-steps_per_epoch:]))}
            if val:
                entry.update(val.run(model, state["epoch"]))
            state["history"].append(entry)
            tqdm.write(json.dumps(entry))
            model_lib.save(model, config, run_dir / "epochs" / f"epoch{state['epoch']:03d}.weights.h5")
        if end_of_epoch or state["step"] % options.checkpoint_every == 0:
            state["seconds"] = time.time() - started
            state["options"] = asdict(options)
            checkpoint.save(model, optimizer, state)
    bar.close()
    state["seconds"] = time.time() - started
    checkpoint.save(model, optimizer, state)
    config.trained = {
        "images": len(files),
        "data_dir": str(options.data_dir),
        "steps": state["step"],
        "epochs": state["step"] / steps_per_epoch,
        "crop": options.crop,
        "batch_size": options.batch_size,
        "learning_rate": options.learning_rate,
        "wall_seconds": round(state["seconds"], 1),
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{'GPU' if tf.config.list_physical_devices('GPU') else 'no GPU'}",
        "history": state["history"],
    }
    return model_lib.save(model, config, run_dir / "vidcolor.weights.h5")


def _batches(data: ImageSet, options: TrainOptions, first_step: int):
    import tensorflow as tf

    c, half = options.crop, options.crop // 2

    def generate():
        step = first_step
        while True:
            yield data.batch(np.random.default_rng([options.seed, step]), options.batch_size, c)
            step += 1

    signature = (
        tf.TensorSpec((None, c, c, 1), tf.float32),
        tf.TensorSpec((None, data.embeddings.shape[1]), tf.float32),
        tf.TensorSpec((None, half, half, 2), tf.float32),
    )
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)


class _Validation:
    """Colours a fixed handful of held-out images after each epoch: figures and a contact sheet."""

    def __init__(self, options: TrainOptions, config, run_dir: Path):
        self.files = list_images(options.val_dir)
        step = max(1, len(self.files) // max(1, options.val_images))
        self.files = self.files[::step][: options.val_images]
        self.truths = [read_image(f) for f in self.files]
        self.config = config
        self.run_dir = run_dir

    def run(self, model, epoch: int) -> dict:
        from .evaluate import evaluate_images
        from .model import Colorizer

        colorizer = Colorizer(model, self.config)
        sheet = self.run_dir / "sheets" / f"epoch{epoch:03d}.png"
        report = evaluate_images(colorizer, self.truths, sheet=sheet, progress=False)
        return {"val": report["prediction"], "val_grey": report["grey_baseline"]}
