"""How well the colour-shot check (vidcolor/film/truecolor.py) tells colour from toned black and white.

    python bench/color_shots.py --photos PHOTO_DIR [FILM...]

--photos (required) is a folder of colour photos, e.g. the held-out ones (../shared/data/val
here); each FILM is a colour clip.

Each colour photo, and the same photo turned into toned black and white (sepia, a blue tint, split
toning; each fading to neutral at black and white), goes through H.264 (4:2:0, crf 18 and 28) and
is measured as the first pass measures a shot; each FILM is measured as one shot (its first 400
frames). Prints the residual chroma's range and the share called colour.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import av
import cv2
import numpy as np

from vidcolor.images import image_files, read_image
from vidcolor.film.truecolor import SAMPLE_EVERY, SAMPLE_SIDE, ChromaMeter


def toned(rgb: np.ndarray, kind: str) -> np.ndarray:
    if kind == "colour":
        return rgb
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    light = lab[..., 0]
    fade = np.sin(np.pi * light / 100)  # no tint at black and white
    a, b = {"sepia": (10.0, 30.0), "blue": (-6.0, -35.0), "split": (0.0, 30.0 * np.tanh((light - 50) / 15))}[kind]
    lab[..., 1], lab[..., 2] = a * fade, b * fade
    return (np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8)


def through_h264(rgb: np.ndarray, crf: int) -> np.ndarray:
    buffer = io.BytesIO()
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def measure(frames):
    meter = ChromaMeter()
    for rgb in frames:
        height, width = rgb.shape[:2]
        scale = SAMPLE_SIDE / min(height, width)
        meter.push(cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA))
    return meter.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of colour photos")
    parser.add_argument("films", type=Path, nargs="*")
    args = parser.parse_args()
    photos = image_files(args.photos)
    for kind in ("sepia", "blue", "split", "colour"):
        for crf in (18, 28):
            found = [measure([through_h264(toned(read_image(p), kind), crf)]) for p in photos]
            residual = np.array([f.residual for f in found])
            print(f"{kind:6s} crf {crf}: residual {residual.min():.2f} to {residual.max():.2f} (median "
                  f"{np.median(residual):.2f}), called colour: {np.mean([f.is_color for f in found]):.1%} "
                  f"of {len(found)}")
    for film in args.films:
        with av.open(str(film)) as container:
            frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(400), container.decode(video=0))
                      if i % SAMPLE_EVERY == 0]
        found = measure(frames)
        print(f"{film.name}: residual {found.residual:.2f}, tint {found.tint:.2f}, colour: {found.is_color}")


if __name__ == "__main__":
    main()
