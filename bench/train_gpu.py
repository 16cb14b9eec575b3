"""Fine-tune the shipped model on a borrowed GPU machine that has JAX but no TensorFlow, no PyAV
and no network, and takes at most 64 MiB of files along.

How the H200 fine-tune in weights/README.md was run; three steps:

  # here: photos, their cached embeddings and the starting weights, packed small
  python bench/train_gpu.py pack ../shared/data/train runs/lite0/cache weights/vidcolor.weights.h5 .gpu/pack \
      --holdout ../shared/data/val --holdout-cache runs/lite0/cache/val
  # (with the Keras, namex and optree wheels in .whl: 61 MiB of the 64 MiB that may travel, once
  # weights/vidcolor.weights.h5 is untracked for that call: its float16 copy in the pack stands in)

  # there (KERAS_BACKEND=jax): train for a wall-clock budget; fp16 snapshots come back
  python bench/train_gpu.py train .gpu/pack $OUT --minutes 7 [--encoder frozen|from8] [--weight-decay 0.05]

  # here: a snapshot back into a NAME.weights.h5 + NAME.json pair
  python bench/train_gpu.py unpack $OUT/final.npz .gpu/pack/init.json runs/gpu/final.weights.h5

The pack holds the photos as WebP (quality 70) with the short side at 192 px (the training
crop; the random zoom of up to 1.3x then enlarges a little), each photo's embedding quantised to 8 bits per row,
its sampling probability, and the starting weights in float16. Nothing in it is committed.
With --holdout, the validation photos travel too (1.9 MB): every --check-every steps the run
measures their loss as bench/compare_models.py does (15 batches of 16, no degradation, no hints)
and scores their centre crops at two prior corrections; best.npz keeps the weights with the most
PSNR at the starting model's colourfulness (models compared at equal colour, as compare_models
does), since a long run on this few photos overfits.

Batches are made by worker processes (forked before the framework starts, so no framework thread
is copied) into a ring of shared memory slots, in step order, each from a generator seeded with
(seed, step) as `vidcolor train` does. The learning rate warms up, then follows a cosine to zero
over the number of steps that the measured speed fits into the budget.
"""

from __future__ import annotations

import argparse
import json
import mmap
import multiprocessing
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.color import lab_to_rgb, rgb_to_lab, scale_lightness  # noqa: E402
from vidcolor.dataset import ImageSet, SampleSettings  # noqa: E402
from vidcolor.metrics import colorfulness, psnr  # noqa: E402

SHORT_SIDE = 192


def pack(data_dir: str, cache: str, init: str, out: str, quality: int, holdout: str | None,
         holdout_cache: str | None) -> None:
    from vidcolor import model as model_lib

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _pack_set(ImageSet(Path(data_dir), Path(cache), "efficientnet_lite0"), out_dir, "", quality)
    if holdout:
        _pack_set(ImageSet(Path(holdout), Path(holdout_cache), "efficientnet_lite0"), out_dir, "holdout_", quality)
    _, model = model_lib.load_model(Path(init))
    save_half(model.get_weights(), out_dir / "init.npz")
    (out_dir / "init.json").write_text(model_lib.config_path(Path(init)).read_text())
    for f in sorted(out_dir.iterdir()):
        print(f"{f}: {f.stat().st_size / 1e6:.1f} MB")


def _pack_set(data: ImageSet, out_dir: Path, prefix: str, quality: int) -> None:
    blobs = []
    for image in data.images:
        h, w = image.shape[:2]
        scale = SHORT_SIDE / min(h, w)
        if scale < 1:
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        longest = int(1.4 * min(h, w))  # crops are square: a very long side only adds bytes
        if h > longest:
            image = image[(h - longest) // 2:][:longest]
        if w > longest:
            image = image[:, (w - longest) // 2:][:, :longest]
        ok, blob = cv2.imencode(".webp", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_WEBP_QUALITY, quality])
        blobs.append(blob.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    np.savez(out_dir / f"{prefix}images.npz", blob=np.concatenate(blobs), offsets=offsets,
             probabilities=data.probabilities)
    emb = data.embeddings.astype(np.float32)
    lo, hi = emb.min(1), emb.max(1)
    scale = np.maximum(hi - lo, 1e-6) / 255.0
    q = np.round((emb - lo[:, None]) / scale[:, None]).astype(np.uint8)
    np.savez_compressed(out_dir / f"{prefix}embeddings.npz", q=q, lo=lo, scale=scale.astype(np.float32))


def save_half(weights: list, path: Path) -> None:
    np.savez(path, *[np.asarray(w, np.float32).astype(np.float16) for w in weights])


def load_half(path: Path) -> list:
    stored = np.load(path, allow_pickle=False)
    return [stored[f"arr_{i}"].astype(np.float32) for i in range(len(stored.files))]


class PackedImages(ImageSet):
    """An ImageSet read from a pack instead of a photo folder (the same batches code)."""

    def __init__(self, pack_dir: Path, workers: int, prefix: str = ""):
        images = np.load(pack_dir / f"{prefix}images.npz", allow_pickle=False)
        blob, offsets = images["blob"], images["offsets"]
        pieces = [blob[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            self.images = pool.map(_decode, pieces, chunksize=64)
        self.probabilities = images["probabilities"]
        e = np.load(pack_dir / f"{prefix}embeddings.npz", allow_pickle=False)
        self.embeddings = (e["q"].astype(np.float32) * e["scale"][:, None] + e["lo"][:, None]).astype(np.float32)
        self.files = [None] * len(self.images)


def _decode(blob: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(blob, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# --- batches made by forked workers into shared-memory slots -------------------------------------

_WORKER: dict = {}


def _fill(step: int, slot: int) -> int:
    cv2.setNumThreads(1)
    data, settings, seed, size, views = _WORKER["data"], _WORKER["settings"], _WORKER["seed"], _WORKER["size"], _WORKER["views"]
    features, target = data.batch(np.random.default_rng([seed, step]), size, settings)
    for name, array in {**features, "target": target}.items():
        views[slot][name][...] = array
    return slot


class BatchRing:
    def __init__(self, data: ImageSet, settings: SampleSettings, seed: int, size: int, workers: int, slots: int):
        c, s = settings.crop, settings.crop // settings.target_stride
        self.shapes = {"lightness": (size, c, c, 1), "embedding": (size, 1000), "hints": (size, c, c, 3),
                       "target": (size, s, s, 2)}
        # anonymous shared maps, inherited by the forked workers: no /dev/shm needed (small in containers)
        self.memory = [mmap.mmap(-1, sum(4 * int(np.prod(v)) for v in self.shapes.values())) for _ in range(slots)]
        self.views = [self._views(m) for m in self.memory]
        _WORKER.update(data=data, settings=settings, seed=seed, size=size, views=self.views)
        self.pool = multiprocessing.get_context("fork").Pool(workers)

    def _views(self, memory) -> dict:
        views, offset = {}, 0
        for name, shape in self.shapes.items():
            views[name] = np.ndarray(shape, np.float32, buffer=memory, offset=offset)
            offset += 4 * int(np.prod(shape))
        return views

    def batches(self, start: int):
        """(step, views) in step order; a slot is refilled once the next batch is asked for."""
        pending, step = [], start
        for slot in range(len(self.memory)):
            pending.append((step, self.pool.apply_async(_fill, (step, slot))))
            step += 1
        while True:
            current, job = pending.pop(0)
            slot = job.get()
            yield current, self.views[slot]
            pending.append((step, self.pool.apply_async(_fill, (step, slot))))
            step += 1

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


# --- training ------------------------------------------------------------------------------------

def train(pack_dir: str, out: str, minutes: float, batch: int, lr: float, workers: int, hints: float,
          degrade: float, seed: int, warmup: int, ema: float, encoder: str, zoom: float, weight_decay: float,
          check_every: int, marks: list[int], colourfulness: float | None) -> None:
    started = time.time()
    pack_dir, out_dir = Path(pack_dir), Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = PackedImages(pack_dir, workers)
    settings = SampleSettings(crop=SHORT_SIDE, target_stride=4, degrade=degrade, with_hints=hints, zoom=zoom)
    held_out, held_out_photos = _held_out_batches(pack_dir, workers)
    ring = BatchRing(data, settings, seed, batch, workers, slots=2 * workers)
    log = open(out_dir / "train.log", "a", buffering=1)

    def say(entry: dict) -> None:
        line = json.dumps(entry)
        print(line, flush=True)
        log.write(line + "\n")

    say({"images": len(data.images), "held_out_batches": len(held_out), "loaded_s": round(time.time() - started, 1),
         "encoder": encoder, "lr": lr, "weight_decay": weight_decay, "zoom": zoom, "degrade": degrade, "hints": hints})
    from vidcolor import model as model_lib
    from vidcolor.train import TrainOptions, _build, make_loss
    from vidcolor.unet import set_encoder_trainable

    keras = model_lib.import_keras()
    keras.utils.set_random_seed(seed)
    config = model_lib.ModelConfig.from_file(pack_dir / "init.json")
    precision = model_lib.choose_precision()
    options = TrainOptions(data_dir=pack_dir, run_dir=out_dir, freeze_steps=0, learning_rate=lr, finetune_scale=1.0)
    model = _build(config, options, precision, 0, weights=load_half(pack_dir / "init.npz"))
    set_encoder_trainable(model, encoder == "from8")  # from8: all but the convolutions before stride 8 learn
    optimizer = keras.optimizers.AdamW(lr, weight_decay=weight_decay)
    model.compile(optimizer=optimizer, loss=make_loss(config), jit_compile=True)
    optimizer.build(model.trainable_variables)
    say({"backend": keras.backend.backend(), "precision": precision, "devices": [str(d) for d in model_lib.gpus()],
         "trainable_weights": len(model.trainable_weights)})
    inputs = [t.name for t in model.inputs]

    def held_out_loss() -> float:
        return float(np.mean([float(np.asarray(model.test_on_batch([x[n] for n in inputs], y))) for x, y in held_out]))

    def held_out_scores() -> dict:
        return _scores(model, inputs, held_out_photos, config) if held_out_photos else {}

    start_scores = held_out_scores()
    # the colourfulness at which snapshots are compared: given, or the starting model's at +0.15
    reference = colourfulness or start_scores.get(0.15, (0, 0))[1]
    best = _psnr_at(start_scores, reference)
    say({"step": 0, "held_out": round(held_out_loss(), 4), "scores": _rounded(start_scores),
         "psnr_at_start_colourfulness": round(best, 3), "elapsed_s": round(time.time() - started)})
    deadline = started + 60 * minutes
    total, losses, averaged, averages, t0 = None, [], None, 0, None
    marks = sorted(marks)
    try:
        for step, views in ring.batches(0):
            if step == 20:
                t0 = time.time()  # after the compilation
            if step == warmup:
                rate = (warmup - 20) / (time.time() - t0)
                total = warmup + int(rate * (deadline - time.time() - 30))
                say({"steps_per_s": round(rate, 2), "planned_steps": total, "elapsed_s": round(time.time() - started)})
            progress = step / total if total else 0.0
            now = lr * min(1.0, (step + 1) / warmup) * (0.5 * (1 + np.cos(np.pi * min(progress, 1.0))) if total else 1.0)
            optimizer.learning_rate.assign(now)
            loss = model.train_on_batch([views[name] for name in inputs], views["target"])
            losses.append(float(np.asarray(loss)))
            if total and progress >= 1 - ema and step % 5 == 0:
                averages += 1  # a plain running mean of the weights over the end of the run
                weights = model.get_weights()
                averaged = weights if averaged is None else [a + (w - a) / averages for a, w in zip(averaged, weights)]
            if marks and step + 1 == marks[0]:
                save_half(model.get_weights(), out_dir / f"s{marks.pop(0)}.npz")
            if (step + 1) % check_every == 0:
                scores = held_out_scores()
                value = _psnr_at(scores, reference)
                if value > best:
                    best = value
                    save_half(model.get_weights(), out_dir / "best.npz")
                say({"step": step + 1, "loss": round(float(np.mean(losses[-check_every:])), 4),
                     "held_out": round(held_out_loss(), 4), "scores": _rounded(scores),
                     "psnr_at_start_colourfulness": round(value, 3), "best": round(best, 3), "lr": float(now),
                     "elapsed_s": round(time.time() - started)})
            if (total and step + 1 >= total) or time.time() > deadline:
                break
    finally:
        ring.close()
        save_half(model.get_weights(), out_dir / "final.npz")
        if averaged is not None:
            save_half(averaged, out_dir / "averaged.npz")
        say({"steps": len(losses), "batch": batch, "held_out_final": round(held_out_loss(), 4),
             "minutes": round((time.time() - started) / 60, 2)})


def _held_out_batches(pack_dir: Path, workers: int) -> tuple[list, dict | None]:
    """The validation loss's batches as bench/compare_models.py draws them (15 batches of 16, no
    degradation, no hints), and every held-out photo once, centre-cropped, for _scores."""
    if not (pack_dir / "holdout_images.npz").is_file():
        return [], None
    data = PackedImages(pack_dir, workers, prefix="holdout_")
    plain = SampleSettings(crop=SHORT_SIDE, target_stride=4, degrade=0.0, with_hints=0.0)
    batches = [data.batch(np.random.default_rng([7, k]), 16, plain) for k in range(15)]
    crops = []
    for image in data.images:
        scale = SHORT_SIDE / min(image.shape[:2])
        image = cv2.resize(image, (max(SHORT_SIDE, round(image.shape[1] * scale)),
                                   max(SHORT_SIDE, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        y, x = (image.shape[0] - SHORT_SIDE) // 2, (image.shape[1] - SHORT_SIDE) // 2
        crops.append(rgb_to_lab(image[y:y + SHORT_SIDE, x:x + SHORT_SIDE]))
    lab = np.stack(crops).astype(np.float32)
    photos = {"lightness": scale_lightness(lab[..., :1]), "embedding": data.embeddings,
              "hints": np.zeros(lab.shape[:3] + (3,), np.float32), "lab": lab}
    return batches, photos


SCORE_CORRECTIONS = (0.0, 0.15, 0.45)


def _scores(model, inputs: list[str], photos: dict, config) -> dict:
    """{prior correction: (PSNR, colourfulness / the truth's)} of the held-out photos, scored at the
    logits' size (bench/compare_models.py's figures, on centre crops)."""
    centres = np.asarray(config.bins, np.float32)
    log_weights = np.log(np.asarray(config.bin_weights, np.float32))
    found = {c: ([], [], []) for c in SCORE_CORRECTIONS}
    for start in range(0, len(photos["lab"]), 16):
        part = {k: v[start:start + 16] for k, v in photos.items()}
        logits = np.asarray(model.predict_on_batch([part[n] for n in inputs]), np.float32)
        size = (logits.shape[2], logits.shape[1])
        for lab, logit in zip(part["lab"], logits):
            small = cv2.resize(lab, size, interpolation=cv2.INTER_AREA)
            truth = _rgb8(small)
            for c, (psnrs, cfs, cf_truths) in found.items():
                z = (logit - c * log_weights) / config.temperature
                probs = np.exp(z - z.max(-1, keepdims=True))
                ab = (probs / probs.sum(-1, keepdims=True)) @ centres
                predicted = _rgb8(np.concatenate([small[..., :1], ab], -1))
                psnrs.append(psnr(predicted, truth))
                cfs.append(colorfulness(predicted))
                cf_truths.append(colorfulness(truth))
    return {c: (float(np.mean(p)), float(np.mean(cf) / np.mean(ct))) for c, (p, cf, ct) in found.items()}


def _rgb8(lab: np.ndarray) -> np.ndarray:
    return (np.clip(lab_to_rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def _psnr_at(scores: dict, colourfulness: float) -> float:
    """PSNR where the colourfulness equals the given one (linear between the scored corrections)."""
    if not scores:
        return 0.0
    points = sorted((cf, p) for p, cf in scores.values())
    return float(np.interp(colourfulness, [cf for cf, _ in points], [p for _, p in points],
                           left=-np.inf, right=points[-1][1]))


def _rounded(scores: dict) -> dict:
    return {str(c): [round(p, 3), round(cf, 3)] for c, (p, cf) in scores.items()}


def unpack(snapshot: str, config_json: str, dest: str) -> None:
    from vidcolor import model as model_lib

    config = model_lib.ModelConfig.from_file(Path(config_json))
    model = model_lib.build_colorizer(config, "float32")
    model.set_weights(load_half(Path(snapshot)))
    print(model_lib.save(model, config, Path(dest)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("data_dir"), p.add_argument("cache"), p.add_argument("init"), p.add_argument("out")
    p.add_argument("--quality", type=int, default=70)
    p.add_argument("--holdout", default=None, help="photos whose loss is watched during training (not trained on)")
    p.add_argument("--holdout-cache", default=None, help="their embeddings' cache folder")
    t = sub.add_parser("train")
    t.add_argument("pack_dir"), t.add_argument("out")
    t.add_argument("--minutes", type=float, default=7.0)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    t.add_argument("--hints", type=float, default=0.5)
    t.add_argument("--degrade", type=float, default=0.5)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--warmup", type=int, default=150)
    t.add_argument("--ema", type=float, default=0.15, help="share of the run, at its end, averaged into averaged.npz")
    t.add_argument("--encoder", choices=["frozen", "from8"], default="from8")
    t.add_argument("--zoom", type=float, default=1.3, help="crops from the photo's short side resized to 192 x U(1, zoom)")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--check-every", type=int, default=500, help="steps between held-out losses (best.npz keeps the best)")
    t.add_argument("--colourfulness", type=float, default=None,
                   help="compare snapshots at this colourfulness ratio (default: the starting model's; give one "
                        "when the decoder starts fresh)")
    t.add_argument("--marks", default="", help="steps after which a snapshot sNNN.npz is kept, comma-separated")
    u = sub.add_parser("unpack")
    u.add_argument("snapshot"), u.add_argument("config_json"), u.add_argument("dest")
    a = parser.parse_args()
    if a.command == "pack":
        pack(a.data_dir, a.cache, a.init, a.out, a.quality, a.holdout, a.holdout_cache)
    elif a.command == "train":
        train(a.pack_dir, a.out, a.minutes, a.batch, a.lr, a.workers, a.hints, a.degrade, a.seed, a.warmup, a.ema,
              a.encoder, a.zoom, a.weight_decay, a.check_every, [int(m) for m in a.marks.split(",") if m],
              a.colourfulness)
    else:
        unpack(a.snapshot, a.config_json, a.dest)


if __name__ == "__main__":
    main()
