"""Quality against the truth: colour photos or a colour film turned grey, coloured, compared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import metrics
from ..color import lightness, merge_lab
from ..errors import InputError
from ..images import list_images, read_image
from ..model import ColorizerProtocol, colorizer_for
from ..options import FILM_STYLE, STILL_STYLE, check_style
from ..outputs import write_text
from ..sheets import contact_sheet
from ..stills import DEFAULT_RENDER_SIZE, colorize_array


def grey_version(rgb: np.ndarray) -> np.ndarray:
    """The truth as a black-and-white picture (a* = b* = 0): the grey baseline."""
    light = lightness(rgb)
    return merge_lab(light, np.zeros(light.shape + (2,), np.float32))


def evaluate_images(colorizer: ColorizerProtocol, truths, *, sheet: Path | None = None,
                    render_size: int = DEFAULT_RENDER_SIZE, progress: bool = True, sheet_rows: int = 24) -> dict:
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
    """The report as JSON, written atomically."""
    return write_text(path, json.dumps(report, indent=1, default=float))


def evaluate_path(source: Path, *, weights=None, colorizer: ColorizerProtocol | None = None,
                  sheet: Path | None = None, limit: int | None = None, render_size: int = DEFAULT_RENDER_SIZE,
                  key_interval: int | None = None, precision: str = "auto", progress: bool = True,
                  style: str | None = None) -> dict:
    """`vidcolor evaluate`: a folder of colour photos, or a colour video (key_interval: see RemasterOptions).
    style: options.STYLES; default each medium's own (vivid for photos, muted for films)."""
    check_style(style)
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    style = style or (STILL_STYLE if source.is_dir() else FILM_STYLE)
    colorizer = colorizer_for(style, colorizer, weights, precision)
    if source.is_dir():
        truths = [read_image(f) for f in list_images(source, limit)]
        report = evaluate_images(colorizer, truths, sheet=sheet, render_size=render_size,
                                 progress=progress)
    else:
        report = evaluate_video(colorizer, source, sheet=sheet, limit=limit or 250, render_size=render_size,
                                key_interval=key_interval, progress=progress, style=style)
    report["source"] = str(source)
    report["weights"] = str(weights or "shipped")
    report["render_size"] = render_size
    report["style"] = style
    return report


def evaluate_video(colorizer: ColorizerProtocol, source: Path, *, sheet: Path | None = None, limit: int = 250,
                   render_size: int = DEFAULT_RENDER_SIZE, key_interval: int | None = None, progress: bool = True,
                   style: str | None = None) -> dict:
    """Grey the first `limit` frames of a colour video, remaster them (in `style`, default the films'),
    and score frames and steadiness."""
    import tempfile

    from ..color import yuv_to_rgb
    from ..media import VideoWriter, decode_frames, probe_video
    from ..options import KEY_INTERVAL, RemasterOptions
    from ..film.remaster import remaster

    info = probe_video(source)
    truths, greys, predictions = [], [], []
    with tempfile.TemporaryDirectory(prefix="vidcolor-eval-") as tmp:
        grey_path, color_path = Path(tmp) / "grey.mkv", Path(tmp) / "color.mkv"
        neutral = None  # the grey chroma plane, the same for every frame
        with VideoWriter(info, grey_path, crf=0, preset="ultrafast", copy_audio=False) as writer:
            for frame in decode_frames(source, info):
                if frame.index >= limit:
                    break
                truths.append(yuv_to_rgb(frame.y, frame.u, frame.v, info.matrix, info.full_range, info.bit_depth))
                if neutral is None:
                    neutral = np.full_like(frame.u, 1 << (info.bit_depth - 1))
                writer.write(frame.y, neutral, neutral, frame.pts)
        options = RemasterOptions.of(render_size=render_size, key_interval=key_interval or KEY_INTERVAL, progress=progress,
                                  crf=0, preset="ultrafast", style=style)
        remaster(grey_path, color_path, options, colorizer=colorizer, on_warning=lambda m: None)
        out_info = probe_video(color_path)
        for frame in decode_frames(color_path, out_info):
            h, w = truths[0].shape[:2]
            predictions.append(yuv_to_rgb(frame.y, frame.u, frame.v, out_info.matrix, out_info.full_range,
                                          out_info.bit_depth)[:h, :w])
            greys.append(grey_version(truths[len(greys)]))
    count = min(len(truths), len(predictions))
    step = max(1, count // 30)  # CIEDE2000 is slow: score every step-th frame
    picked = range(0, count, step)
    pred_scores = [metrics.score_image(predictions[i], truths[i]) for i in picked]
    grey_scores = [metrics.score_image(greys[i], truths[i]) for i in picked]
    report = {
        "frames": count,
        "key_interval": options.film.key_interval,
        "prediction": metrics.summarize(pred_scores) | {"cdc": metrics.cdc(predictions[:count]),
                                                       "warp_error": metrics.warp_error(predictions[:count], truths[:count])},
        "grey_baseline": metrics.summarize(grey_scores),
        "truth": {"cdc": metrics.cdc(truths[:count]), "warp_error": metrics.warp_error(truths[:count], truths[:count])},
    }
    if sheet:
        rows = [[greys[i], predictions[i], truths[i]] for i in range(0, count, max(1, count // 6))][:6]
        Path(sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(rows, sheet, labels=["grey", "vidcolor", "truth"])
        report["sheet"] = str(sheet)
    return report
