"""Contact sheets: PNG pictures for judging colour by eye."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .errors import InputError
from .images import write_image

GUTTER = 4
LABEL_BAND = 24
WHITE = 255

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.5


def _as_rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise InputError(f"contact sheet: expected uint8 images, got {img.dtype}")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(f"contact sheet: expected an RGB (H, W, 3) image, got shape {img.shape}")
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def _fit_height(img: np.ndarray, height: int) -> np.ndarray:
    h, w = img.shape[:2]
    width = max(1, round(w * height / h))
    interpolation = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(img, (width, height), interpolation=interpolation)


def _column_widths(cells: list[list[np.ndarray]]) -> list[int]:
    n_columns = max(len(row) for row in cells)
    return [max((row[j].shape[1] for row in cells if j < len(row)), default=0) for j in range(n_columns)]


def _draw_labels(sheet: np.ndarray, labels: Sequence[str], column_x: list[int], widths: list[int]) -> None:
    for label, x, width in zip(labels, column_x, widths):
        (text_w, text_h), _ = cv2.getTextSize(label, _FONT, _FONT_SCALE, 1)
        text_x = x + max(0, (width - text_w) // 2)
        text_y = (LABEL_BAND + text_h) // 2
        cv2.putText(sheet, label, (text_x, text_y), _FONT, _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], path, *, labels: Sequence[str] | None = None,
                  cell_height: int = 160, max_rows: int | None = None) -> Path:
    """Lay out rows of images (e.g. [grey, prediction, truth]) as a grid on white and save it
    (images.write_image: atomically, in the format the name's suffix says, PNG for none).

    Every image is scaled to cell_height keeping its aspect; each column is as wide as its
    widest image, images are centred in their cell, and 4 px white gutters surround all cells.
    Optional column labels go in a band above the first row."""
    path = Path(path)
    if cell_height < 1:
        raise InputError(f"{path}: cell_height must be positive, got {cell_height}")
    rows = list(rows)[:max_rows] if max_rows is not None else list(rows)
    if not rows or not any(len(row) for row in rows):
        raise InputError(f"{path}: no images for the contact sheet")

    cells = [[_fit_height(_as_rgb(img), cell_height) for img in row] for row in rows]
    widths = _column_widths(cells)
    column_x = [GUTTER + sum(widths[:j]) + j * GUTTER for j in range(len(widths))]
    top = LABEL_BAND if labels else 0
    height = top + len(cells) * cell_height + (len(cells) + 1) * GUTTER
    width = sum(widths) + (len(widths) + 1) * GUTTER
    sheet = np.full((height, width, 3), WHITE, dtype=np.uint8)

    for r, row in enumerate(cells):
        y = top + GUTTER + r * (cell_height + GUTTER)
        for j, cell in enumerate(row):
            x = column_x[j] + (widths[j] - cell.shape[1]) // 2
            sheet[y:y + cell_height, x:x + cell.shape[1]] = cell
    if labels:
        _draw_labels(sheet, labels, column_x, widths)

    return write_image(path, sheet, force=True)


def captioned(img: np.ndarray, caption: str, height: int) -> np.ndarray:
    """The image scaled to `height`, over a white band with the caption (shrunk to fit its width)."""
    img = _fit_height(_as_rgb(img), height)
    band = np.full((LABEL_BAND, img.shape[1], 3), WHITE, np.uint8)
    scale = _FONT_SCALE
    (text_w, text_h), _ = cv2.getTextSize(caption, _FONT, scale, 1)
    if text_w > img.shape[1] - 4:
        scale *= (img.shape[1] - 4) / text_w
        (text_w, text_h), _ = cv2.getTextSize(caption, _FONT, scale, 1)
    cv2.putText(band, caption, (2, (LABEL_BAND + text_h) // 2), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([img, band])


def captioned_sheet(cells: Sequence[Sequence[np.ndarray]], captions: Sequence[str], path, *, columns: int = 4,
                    cell_height: int = 120) -> Path:
    """A grid of captioned cells, `columns` to a row; each cell is its images side by side (e.g. a
    shot's first frame before and after colouring) above its caption."""
    pictures = [captioned(np.hstack([_fit_height(_as_rgb(img), cell_height) for img in cell]), caption, cell_height)
                for cell, caption in zip(cells, captions)]
    rows = [pictures[k : k + columns] for k in range(0, len(pictures), columns)]
    return contact_sheet(rows, path, cell_height=cell_height + LABEL_BAND)
