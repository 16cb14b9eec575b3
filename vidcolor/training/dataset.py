"""Training samples: colour photos in memory, sampled fairly across their sources, resized and
cropped, degraded like archive film, with hints drawn from the truth on some of them.

The embedding of each photo (its grey version seen by the ImageNet classifier) never
changes during training, so it is computed once and cached in RUN_DIR/cache. Batch k is
drawn from a generator seeded with (seed, k), so a run resumed at step k sees exactly the
batches an uninterrupted run would have.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from . import augment
from ..model import chroma_bins, hints
from ..color import grey_from_lightness, lightness, rgb_to_lab, scale_lightness
from ..errors import InputError
from ..images import list_images, read_image
from ..outputs import atomic_path, write_text


@dataclass
class SampleSettings:
    crop: int = 192
    target_stride: int = 4  # the model's logits are this much smaller than its input
    degrade: float = 0.6  # share of samples made to look like archive film
    with_hints: float = 0.0  # share of samples given hints drawn from the truth
    zoom: float = 1.3  # the photo's short side is resized to crop x U(1, zoom) before cropping
    embedding_swap: float = 0.0  # share of samples given a look-alike photo's embedding (ImageSet.neighbours)


class ImageSet:
    """Colour images held in memory as uint8 RGB, with their cached embeddings and source groups."""

    def __init__(self, root: Path, cache: Path, embedder_name: str, limit: int | None = None):
        self.root = Path(root)
        self.files = list_images(self.root, limit)
        self.cache = cache
        self.images = [read_image(f) for f in tqdm(self.files, desc="loading images", unit="img")]
        # the embedder's name keys the cache: embeddings of another embedder are never reused
        self.embeddings = self.cached(embedder_name, lambda: self._embed_all(embedder_name))
        self.probabilities = source_balanced_probabilities(self.files, self.root)

    @functools.cached_property
    def neighbours(self) -> np.ndarray:
        """(N, k) for each photo the other photos whose embeddings are nearest to its own.

        A photo's embedding is a fingerprint: trained on its own, the decoder learns that photo's
        colours from it and paints unseen photos with the tint of a training photo. Given a
        look-alike's embedding instead, it can learn only what such photos share."""
        if len(self.embeddings) < 2:
            raise InputError(f"{self.root}: a look-alike embedding needs two photos or more")
        return nearest_neighbours(self.embeddings)

    def cached(self, name: str, compute) -> np.ndarray:
        """An array computed from the images once, kept in the cache folder (keyed by the file list,
        named from the photos' folder, so that another path to the same folder finds it)."""
        key = [name] + [f"{f.relative_to(self.root)}:{f.stat().st_size}" for f in self.files]
        index, store = self.cache / f"{name}.json", self.cache / f"{name}.npy"
        if index.is_file() and store.is_file() and json.loads(index.read_text()) == key:
            return np.load(store, allow_pickle=False)
        values = compute()
        self.cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(store) as partial:
            np.save(partial, values)
        write_text(index, json.dumps(key))
        return values

    def _embed_all(self, embedder_name: str) -> np.ndarray:
        from ..model.embedders import load_embedder

        embedder = load_embedder(embedder_name)
        rows, chunk = [], 32
        with tqdm(total=len(self.images), desc="embedding images", unit="img") as bar:
            for start in range(0, len(self.images), chunk):
                greys = [grey_from_lightness(lightness(im)) for im in self.images[start : start + chunk]]
                rows.append(embedder.embed_many(greys))
                bar.update(len(greys))
        return np.concatenate(rows).astype(np.float32)

    def batch(self, rng: np.random.Generator, size: int, settings: SampleSettings) -> tuple[dict, np.ndarray]:
        """({lightness (B, c, c, 1) scaled, embedding (B, 1000), hints (B, c, c, 3)}, a*b* (B, c/s, c/s, 2))."""
        picks = rng.choice(len(self.images), size, p=self.probabilities)
        lights, hint_maps, targets, embeddings = [], [], [], []
        c, small = settings.crop, settings.crop // settings.target_stride
        for i in picks:
            lab = rgb_to_lab(resized_crop(self.images[i], c, settings.zoom, rng))
            ab = lab[..., 1:]
            lights.append(scale_lightness(augment.degrade(lab[..., 0], rng, settings.degrade))[..., None])
            given = hints.sample_from_truth(ab, rng) if rng.random() < settings.with_hints else hints.empty(c, c)
            hint_maps.append(hints.hint_channels(given, (c, c)))
            targets.append(cv2.resize(ab, (small, small), interpolation=cv2.INTER_AREA))
            swap = settings.embedding_swap and rng.random() < settings.embedding_swap
            embeddings.append(self.embeddings[rng.choice(self.neighbours[i]) if swap else i])
        inputs = {"lightness": np.stack(lights), "embedding": np.stack(embeddings), "hints": np.stack(hint_maps)}
        return inputs, np.stack(targets).astype(np.float32)


def nearest_neighbours(embeddings: np.ndarray, k: int = 8, chunk: int = 1024) -> np.ndarray:
    """(N, k) indices of each row's k most similar other rows (cosine similarity), most similar first."""
    unit = embeddings - embeddings.mean(0)
    unit = (unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-6)).astype(np.float32)
    k = min(k, len(unit) - 1)
    found = []
    for start in range(0, len(unit), chunk):
        similarity = unit[start : start + chunk] @ unit.T
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = -np.inf
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, 1), axis=1)
        found.append(np.take_along_axis(top, order, 1))
    return np.concatenate(found)


def resized_crop(image: np.ndarray, crop: int, zoom: float, rng: np.random.Generator) -> np.ndarray:
    """Resize so the short side is crop x U(1, zoom), then a random crop x crop window, maybe mirrored:
    crops that hold whole objects rather than patches of texture."""
    h, w = image.shape[:2]
    scale = crop * rng.uniform(1.0, zoom) / min(h, w)
    size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y, x = rng.integers(0, size[1] - crop + 1), rng.integers(0, size[0] - crop + 1)
    patch = image[y : y + crop, x : x + crop]
    return patch[:, ::-1] if rng.random() < 0.5 else patch


def source_balanced_probabilities(files: list[Path], root: Path) -> np.ndarray:
    """Sampling probability per file: each source (first folder under root) weighs the square root
    of its size, shared evenly by its files, so no large source dominates and none is ignored."""
    sources = [f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1 else "" for f in files]
    names, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
    per_file = np.sqrt(counts)[inverse] / counts[inverse]
    return per_file / per_file.sum()


def bin_counts(images: list[np.ndarray], centres: np.ndarray, per_image: int = 2000, seed: int = 0) -> np.ndarray:
    """How often each a*b* bin occurs in the training images (a random sample of pixels of each)."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(centres), np.int64)
    for image in images:
        ab = rgb_to_lab(image)[..., 1:].reshape(-1, 2)
        sample = ab[rng.integers(0, len(ab), per_image)]
        counts += np.bincount(chroma_bins.nearest_bin(sample, centres), minlength=len(centres))
    return counts
