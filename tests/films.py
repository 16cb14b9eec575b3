"""Tiny films of real photographs (scikit-image's, public domain and CC0) for the direction tests:
shots that pan over a photo, in colour or made grey, with cuts between them."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data


def pan(photo: np.ndarray, frames: int, size=(96, 64), step: int = 2) -> list[np.ndarray]:
    """`frames` RGB frames of `size` (w, h) moving `step` px a frame across the photo."""
    w, h = size
    scale = (h + 8) / photo.shape[0]
    photo = cv2.resize(photo, (max(w + step * frames + 1, round(photo.shape[1] * scale)), h + 8),
                       interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(photo[4 : 4 + h, k * step : k * step + w]) for k in range(frames)]


TINTS = {"sepia": (10.0, 30.0), "blue": (-6.0, -35.0)}  # a*b* of a tint at mid-grey, fading to black and white


def toned(rgb: np.ndarray, kind: str) -> np.ndarray:
    """The picture in `kind`: "colour" as it is, "grey", or toned black and white ("sepia", "blue")."""
    if kind == "colour":
        return rgb
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    strength = np.sin(np.pi * lab[..., 0] / 100) if kind in TINTS else 0.0
    a, b = TINTS.get(kind, (0.0, 0.0))
    lab[..., 1], lab[..., 2] = a * strength, b * strength
    return (np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8)


def make_film(path: Path, shots: list[tuple[str, str]], frames: int = 12, size=(96, 64), crf: int = 0) -> Path:
    """A film of one shot per (skimage photo name, "colour", "grey", "sepia" or "blue"), `frames` frames
    each, H.264 4:2:0 at `crf`."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        index = 0
        for name, kind in shots:
            for rgb in pan(getattr(skimage.data, name)(), frames, size):
                frame = av.VideoFrame.from_ndarray(toned(rgb, kind), format="rgb24").reformat(format="yuv420p")
                frame.pts = index
                index += 1
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
