"""Quality against the truth: colour photos or a colour film turned grey, coloured, compared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import metrics
from .color import lightness, merge_lab
from .sheets import contact_sheet
from .stills import DEFAULT_RENDER_SIZE, colorize_array


def grey_version(rgb: np.ndarray) -> np.ndarray:
    """The truth as a black-and-white picture (a* = b* = 0): the grey baseline."""
    light = lightness(rgb)
    return merge_lab(light, np.zeros(light.shape + (2,), np.float32))


def evaluate_images(colorizer, truths, *, sheet: Path | None = None, render_size: int = DEFAULT_RENDER_SIZE,
                    progress: bool = True, sheet_rows: int = 24) -> dict:
    """Scores of the colorizer and of the grey baseline on colour images (RGB uint8)."""
    predicted, baseline, rows = [], [], []
    for truth in tqdm(truths, desc="evaluating", unit="img", disable=not progress):
        grey = grey_version(truth)
        prediction = colorize_array(colorizer, grey, render_size)
        predicted.append(metrics.score_image(prediction, truth))
        baseline.append(metrics.score_image(grey, truth))
        if len(rows) < sheet_rows:
            rows.append([grey, prediction, truth])
    report = {"images": len(truths), "prediction": metrics.summarize(predicted), "grey_baseline": metrics.summarize(baseline)}
    if sheet:
        Path(sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(rows, sheet, labels=["grey", "vidcolor", "truth"])
        report["sheet"] = str(sheet)
    return report


def write_report(report: dict, path: Path) -> Path:
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(report, indent=1, default=float))
    os.replace(partial, path)
    return path
