"""Compare colorizers at equal colourfulness, and how well each fits its training photos.

    python bench/compare_models.py W1.weights.h5 W2.weights.h5 ... --photos VAL_DIR --videos CLIP_DIR
                                   [--corrections 0.15,0.45] [--losses TRAIN_DIR --cache runs/lite0/cache]

--photos (required) is the folder of validation photos and --videos (required) the folder that
holds the four colour clips 01_dog.mp4, box.mp4, bikes.mp4 and cockatoo.mp4 (here
../shared/data/val and ../shared/data/video).

Each model runs once on every third validation photo and on frames 0, 24, ..., 96 of the four
colour clips; its bin logits are then decoded at each prior correction (the model's own
temperature) and scored at the logits' size: photos' PSNR and colourfulness (against the
truth's), clip frames' PSNR. Raising the correction trades colour for PSNR, so two models are
compared where their colourfulness is equal. --losses adds the training loss (class-rebalanced
cross-entropy, 192 px crops, no degradation or hints) on 12 batches of 16 training photos and 15
of validation photos, the same crops for every model, each with the photos' own embeddings, with
another photo's (the batch rolled by one) and with zeros: a model that has memorised its training
photos by their embeddings loses much more on them than on unseen photos when the embedding is
not theirs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import color

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.model import render  # noqa: E402
from vidcolor.color import lab_to_rgb, scale_lightness  # noqa: E402
from vidcolor.model.hints import hint_channels  # noqa: E402
from vidcolor.images import list_images, read_image  # noqa: E402
from vidcolor.training.metrics import colorfulness, psnr  # noqa: E402
from vidcolor.model import load_colorizer  # noqa: E402

CLIPS = ["01_dog", "box", "bikes", "cockatoo"]


def pictures(photos: Path, videos: Path) -> list[tuple[str, np.ndarray]]:
    items = [("photo", read_image(f)) for f in list_images(photos)[::3]]
    for clip in CLIPS:
        with av.open(str(videos / f"{clip}.mp4")) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i >= 120:
                    break
                if i % 24 == 0:
                    items.append((clip, frame.to_ndarray(format="rgb24")))
    return items


def scores(weights: str, items, corrections: list[float]) -> dict:
    """{correction: figures} and {"grey": the figures of no colour at all}."""
    colorizer = load_colorizer(weights)
    config = colorizer.config
    centres, log_weights = np.asarray(config.bins, np.float32), np.log(np.asarray(config.bin_weights, np.float32))
    found = {c: {"photo": [], "cf": [], "cf_truth": [], "clip": []} for c in [*corrections, "grey"]}
    for tag, rgb in items:
        lab = color.rgb2lab(rgb)
        h, w = render.model_size(*rgb.shape[:2], 224, colorizer)
        light = render.shrink(lab[..., 0].astype(np.float32), (h, w))
        grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA)
        inputs = [scale_lightness(light[None])[..., None], colorizer.embed(grey[None]).astype(np.float32),
                  hint_channels(None, light[None].shape)]
        logits = np.asarray(colorizer.model(inputs, training=False), np.float32)[0]
        size = (logits.shape[1], logits.shape[0])
        small_light = cv2.resize(lab[..., 0].astype(np.float32), size, interpolation=cv2.INTER_AREA)
        truth = to_rgb(small_light, cv2.resize(lab[..., 1:].astype(np.float32), size, interpolation=cv2.INTER_AREA))
        for c in found:
            if c == "grey":
                predicted = to_rgb(small_light, np.zeros(logits.shape[:2] + (2,), np.float32))
            else:
                z = (logits - c * log_weights) / config.temperature
                probs = np.exp(z - z.max(-1, keepdims=True))
                predicted = to_rgb(small_light, (probs / probs.sum(-1, keepdims=True)) @ centres)
            if tag == "photo":
                found[c]["photo"].append(psnr(predicted, truth))
                found[c]["cf"].append(colorfulness(predicted))
                found[c]["cf_truth"].append(colorfulness(truth))
            else:
                found[c]["clip"].append(psnr(predicted, truth))
    return {c: {"photos PSNR": np.mean(s["photo"]), "colourfulness": np.mean(s["cf"]) / np.mean(s["cf_truth"]),
                "clip frames PSNR": np.mean(s["clip"])} for c, s in found.items()}


def to_rgb(light: np.ndarray, ab: np.ndarray) -> np.ndarray:
    return (np.clip(lab_to_rgb(np.concatenate([light[..., None], ab], -1)), 0, 1) * 255 + 0.5).astype(np.uint8)


def losses(weights: str, sets: dict) -> dict[str, float]:
    from vidcolor.training.dataset import SampleSettings
    from vidcolor.model import load_keras_model
    from vidcolor.training.train import make_loss

    config, model = load_keras_model(Path(weights), "mixed_bfloat16")
    loss = make_loss(config)
    settings = SampleSettings(crop=192, target_stride=4, degrade=0.0, with_hints=0.0)
    found = {}
    for name, (data, batches) in sets.items():
        values = {"": [], " (another photo's embedding)": [], " (zero embedding)": []}
        for k in range(batches):
            x, y = data.batch(np.random.default_rng([7, k]), 16, settings)
            embeddings = [x["embedding"], np.roll(x["embedding"], 1, axis=0), np.zeros_like(x["embedding"])]
            for values_of, embedding in zip(values.values(), embeddings):
                values_of.append(float(loss(y, model([x["lightness"], embedding, x["hints"]], training=False))))
        found.update({name + how: float(np.mean(v)) for how, v in values.items()})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--photos", type=Path, required=True, help="the validation photos")
    parser.add_argument("--videos", type=Path, required=True, help="the folder of the four colour clips")
    parser.add_argument("--corrections", default="0.15,0.45")
    parser.add_argument("--losses", type=Path, default=None, help="training photos: also report the losses")
    parser.add_argument("--cache", type=Path, default=Path("runs/compare_cache"), help="embeddings of --losses photos")
    args = parser.parse_args()
    corrections = [float(v) for v in args.corrections.split(",")]
    items = pictures(args.photos, args.videos)
    print(f"{len(items)} pictures")
    sets = None
    if args.losses:
        from vidcolor.training.dataset import ImageSet

        sets = {"training loss": (ImageSet(args.losses, args.cache, "efficientnet_lite0"), 12),
                "validation loss": (ImageSet(args.photos, args.cache / "val", "efficientnet_lite0"), 15)}
    for weights in args.weights:
        for c, s in scores(weights, items, corrections).items():
            print(f"{weights}  {c if c == 'grey' else f'correction {c:+.2f}'}: " + ", ".join(f"{k} {v:.2f}" for k, v in s.items()), flush=True)
        if sets:
            print(f"{weights}  " + ", ".join(f"{k} {v:.2f}" for k, v in losses(weights, sets).items()), flush=True)


if __name__ == "__main__":
    main()
