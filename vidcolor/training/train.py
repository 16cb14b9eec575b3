"""Training: backend-agnostic Keras (TensorFlow by default, JAX where that is what a machine has),
resumable checkpoints, a frozen-then-fine-tuned encoder, validation pictures.

Phases (lite0_unet): for the first `freeze_steps` steps the pretrained encoder is frozen and
only the decoder learns; then the whole model is fine-tuned at learning_rate x finetune_scale.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..model import chroma_bins
from .dataset import ImageSet, SampleSettings, bin_counts
from ..errors import InputError
from ..images import list_images, read_image
from ..threads import background

PRESETS = {
    "tiny": dict(crop=32, batch_size=4, epochs=2, steps_per_epoch=4, val_images=2, checkpoint_every=2, freeze_steps=4),
}


@dataclass
class TrainOptions:
    data_dir: Path
    run_dir: Path
    val_dir: Path | None = None
    architecture: str = "lite0_unet"
    head: str = "classification"
    embedder: str = "efficientnet_lite0"
    crop: int = 192
    batch_size: int = 16
    epochs: int = 10
    steps_per_epoch: int | None = None  # default: one pass over the images
    learning_rate: float = 1e-3
    freeze_steps: int = 2000  # lite0_unet: steps with the pretrained encoder frozen
    finetune_scale: float = 0.25  # learning rate once the encoder learns too, relative to learning_rate
    degrade: float = 0.6  # share of samples made to look like archive film
    with_hints: float = 0.5  # share of samples given hints drawn from the truth (lite0_unet)
    embedding_swap: float = 0.0  # share of samples given a look-alike photo's embedding (dataset.ImageSet.neighbours)
    neutral_weight: float = 1.0  # loss weight of pixels whose truth is nearly neutral, relative to the rebalanced one
    init: Path | None = None  # start from these weights (NAME.weights.h5 with NAME.json)
    seed: int = 0
    val_images: int = 48
    checkpoint_every: int = 200
    resume: bool = False
    max_images: int | None = None


def make_loss(config, neutral_weight: float = 1.0):
    """Loss(a*b* truth, model output) in keras.ops, so it runs on any Keras backend.

    Class rebalancing gives nearly neutral truth (grey suits, white walls) the smallest weights;
    `neutral_weight` multiplies the weight of pixels whose truth chroma is below NEUTRAL_CHROMA,
    the threshold the false-colour figure uses, to make colour on them cost more.
    """
    from keras import ops

    from ..color import scale_ab
    from .metrics import NEUTRAL_CHROMA

    if config.head == "regression":
        return lambda ab, out: ops.mean(ops.square(out - scale_ab(1.0) * ab))
    centres = np.asarray(config.bins, np.float32)
    weights = np.asarray(config.bin_weights, np.float32)
    sigma2 = 2.0 * chroma_bins.SOFT_SIGMA**2

    def loss(ab, logits):
        d2 = ops.sum(ops.square(ops.expand_dims(ab, -2) - centres), axis=-1)
        target = ops.softmax(-d2 / sigma2, axis=-1)
        cross_entropy = -ops.sum(target * ops.log_softmax(ops.cast(logits, "float32"), axis=-1), axis=-1)
        pixel_weights = ops.take(weights, ops.argmin(d2, axis=-1))
        if neutral_weight != 1.0:
            neutral = ops.sum(ops.square(ab), axis=-1) < NEUTRAL_CHROMA**2
            pixel_weights = pixel_weights * ops.where(neutral, neutral_weight, 1.0)
        return ops.mean(cross_entropy * pixel_weights)

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

    def folder(self) -> Path | None:
        return self.dir if self.dir.exists() else self.old if self.old.exists() else None

    def load_state(self) -> dict | None:
        folder = self.folder()
        return json.loads((folder / "state.json").read_text()) if folder else None

    def load(self, model, optimizer) -> None:
        folder = self.folder()
        with warnings.catch_warnings():
            # Keras also finds the optimizer's variables in the weights file and, across the switch to
            # fine-tuning (another count of them), warns that it skips them: optimizer.npz below decides
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer", UserWarning)
            model.load_weights(str(folder / "model.weights.h5"))
        saved = np.load(folder / "optimizer.npz", allow_pickle=False)
        keys = sorted(saved.files, key=lambda k: int(k.split("_")[1]))
        if len(keys) != len(optimizer.variables):
            return  # saved in the other phase (the checkpoint at the switch): the new phase starts afresh
        for variable, key in zip(optimizer.variables, keys):
            variable.assign(saved[key])


def _model_config(options: TrainOptions, data: ImageSet):
    from .. import model as model_lib

    if options.init:
        config = model_lib.ModelConfig.from_file(model_lib.config_path(Path(options.init)))
        config.trained = {}
        return config
    config = model_lib.ModelConfig(architecture=options.architecture, embedder=options.embedder, head=options.head)
    if options.head == "classification":
        centres = chroma_bins.in_gamut_bins()
        counts = data.cached("bin_counts", lambda: bin_counts(data.images, centres, seed=options.seed))
        config.bins = centres.tolist()
        config.bin_weights = chroma_bins.rebalance_weights(counts, centres).tolist()
    return config


def _fine_tuning(config, options: TrainOptions, step: int) -> bool:
    return config.architecture == "lite0_unet" and step >= options.freeze_steps


def _build(config, options: TrainOptions, precision: str, step: int, weights: list | None = None):
    """The model for the phase that `step` is in: from `weights` (the previous phase's), else from
    --init, else from ImageNet (lite0_unet's encoder) and fresh initialisation."""
    from .. import model as model_lib

    kwargs = {}
    if config.architecture == "lite0_unet":
        if weights is None and not options.init and not options.resume:
            from ..model.embedders import lite0_imagenet_state

            kwargs["encoder_state"] = lite0_imagenet_state()
        if _fine_tuning(config, options, step) and precision == "mixed_bfloat16" and not model_lib.gpus():
            kwargs["encoder_precision"] = "float32"  # bfloat16 depthwise gradients are slow on a CPU: 1.6x the step time
    model = model_lib.build_colorizer(config, precision, **kwargs)
    if weights is not None:
        model.set_weights(weights)
    elif options.init:
        try:
            model.load_weights(str(options.init))
        except Exception as exc:
            raise InputError(f"{options.init}: cannot start from these weights ({exc})".splitlines()[0]) from None
    return model


def _compile(model, config, options: TrainOptions, step: int):
    """Compile for the phase that `step` is in; returns the optimizer."""
    import keras

    frozen = config.architecture == "lite0_unet" and not _fine_tuning(config, options, step)
    if config.architecture == "lite0_unet":
        from ..model.lite0_unet import set_encoder_trainable

        set_encoder_trainable(model, not frozen)
    rate = options.learning_rate * (1.0 if frozen or config.architecture != "lite0_unet" else options.finetune_scale)
    optimizer = keras.optimizers.Adam(rate)
    model.compile(optimizer=optimizer, loss=make_loss(config, options.neutral_weight), jit_compile=keras.backend.backend() != "tensorflow")
    optimizer.build(model.trainable_variables)
    return optimizer


def train(options: TrainOptions, progress: bool = True) -> Path:
    """Train (or resume) a colorizer; returns the path of the exported weights file."""
    from .. import model as model_lib

    keras = model_lib.import_keras()
    run_dir = Path(options.run_dir)
    checkpoint = _checked_run(options, run_dir)
    data = ImageSet(options.data_dir, run_dir / "cache", options.embedder, options.max_images)
    config = _model_config(options, data)

    keras.utils.set_random_seed(options.seed)
    precision = model_lib.choose_precision()
    state = checkpoint.load_state() if options.resume else None
    state = state or {"step": 0, "epoch": 0, "history": [], "seconds": 0.0}
    model = _build(config, options, precision, state["step"])
    optimizer = _compile(model, config, options, state["step"])
    if options.resume and checkpoint.folder():
        rate = float(np.asarray(optimizer.learning_rate))
        checkpoint.load(model, optimizer)
        optimizer.learning_rate = rate  # a resumed run may go on at another rate
    inputs = [t.name for t in model.inputs]
    settings = SampleSettings(crop=options.crop, target_stride=model_lib.logit_stride(config),
                              degrade=options.degrade, embedding_swap=options.embedding_swap,
                              with_hints=options.with_hints if "hints" in inputs else 0.0)

    def batches():
        for step in range(state["step"], total):
            features, target = data.batch(np.random.default_rng([options.seed, step]), options.batch_size, settings)
            yield [features[name] for name in inputs], target

    steps_per_epoch = options.steps_per_epoch or max(1, len(data.files) // options.batch_size)
    total = steps_per_epoch * options.epochs
    val = _Validation(options, config, run_dir) if options.val_dir else None
    started = time.time() - state["seconds"]
    bar = tqdm(total=total, initial=state["step"], desc="training", unit="step", disable=not progress)
    losses: list[float] = []
    for features, target in background(batches(), maxsize=4):
        if state["step"] == options.freeze_steps and config.architecture == "lite0_unet":
            checkpoint.save(model, optimizer, state)
            model = _build(config, options, precision, state["step"], weights=model.get_weights())
            optimizer = _compile(model, config, options, state["step"])
        losses.append(float(np.asarray(model.train_on_batch(features, target))))
        state["step"] += 1
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        end_of_epoch = state["step"] % steps_per_epoch == 0
        if end_of_epoch:
            entry = _epoch_entry(state, losses[-steps_per_epoch:], steps_per_epoch, started)
            if val:
                entry.update(val.run(model, state["epoch"]))
            state["history"].append(entry)
            state["seconds"] = time.time() - started
            tqdm.write(json.dumps(entry))
            _export(model, config, options, state, len(data.files), steps_per_epoch,
                    run_dir / "epochs" / f"epoch{state['epoch']:03d}.weights.h5")
        if end_of_epoch or state["step"] % options.checkpoint_every == 0:
            state["seconds"] = time.time() - started
            state["options"] = asdict(options)
            checkpoint.save(model, optimizer, state)
    bar.close()
    state["seconds"] = time.time() - started
    checkpoint.save(model, optimizer, state)
    return _export(model, config, options, state, len(data.files), steps_per_epoch, run_dir / "vidcolor.weights.h5")


def _checked_run(options: TrainOptions, run_dir: Path) -> Checkpoint:
    """The run folder's checkpoint, once the options are known to make a model; InputError if a run is
    already there and this one does not resume it."""
    from .. import model as model_lib

    checkpoint = Checkpoint(run_dir)
    if checkpoint.folder() and not options.resume:
        raise InputError(f"{run_dir}: a run is already there (use --resume to continue it, or another folder)")
    problem = model_lib.architecture_problem(options.architecture, options.head, options.embedder, options.crop)
    if problem:
        raise InputError(problem)
    run_dir.mkdir(parents=True, exist_ok=True)
    return checkpoint


def _epoch_entry(state: dict, losses: list[float], steps_per_epoch: int, started: float) -> dict:
    """The history entry of the epoch that just ended (state["epoch"] moves on to it)."""
    state["epoch"] = state["step"] // steps_per_epoch
    return {"epoch": state["epoch"], "step": state["step"], "loss": float(np.mean(losses)),
            "minutes": round((time.time() - started) / 60, 1)}


def _export(model, config, options: TrainOptions, state: dict, images: int, steps_per_epoch: int, path: Path) -> Path:
    """The model as a NAME.weights.h5 + NAME.json pair, with how it was trained."""
    import keras

    from .. import model as model_lib

    config.trained = {
        "architecture": config.architecture,
        "images": images,
        "data_dir": str(options.data_dir),
        "init": str(options.init) if options.init else None,
        "steps": state["step"],
        "epochs": state["step"] / steps_per_epoch,
        "crop": options.crop,
        "batch_size": options.batch_size,
        "learning_rate": options.learning_rate,
        "freeze_steps": options.freeze_steps,
        "finetune_scale": options.finetune_scale,
        "embedding_swap": options.embedding_swap,
        "neutral_weight": options.neutral_weight,
        "degrade": options.degrade,
        "with_hints": options.with_hints,
        "wall_seconds": round(state["seconds"], 1),
        "backend": keras.backend.backend(),
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{'GPU' if model_lib.gpus() else 'no GPU'}",
        "history": state["history"],
    }
    return model_lib.save(model, config, path)


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
        from ..model import Colorizer

        colorizer = Colorizer(model, self.config)
        sheet = self.run_dir / "sheets" / f"epoch{epoch:03d}.png"
        report = evaluate_images(colorizer, self.truths, sheet=sheet, progress=False)
        return {"val": report["prediction"], "val_grey": report["grey_baseline"]}
