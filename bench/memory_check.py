"""Memory must not grow with film length: peak RSS of remastering 2, 10 and 20 minutes of film.

    python bench/memory_check.py [--minutes 2,10,20] [--weights PATH]

Makes synthetic grey films of small frames (128x96, 25 fps, with an AAC
soundtrack and a cut every 10 s), remasters each in a fresh process with the
default settings, and prints each process's peak resident memory. Flat peaks
mean memory is bounded by the pipeline's queues and O(shots) state, not by
the number of frames.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, FPS, RATE = 128, 96, 25, 16000


def make_film(path: Path, minutes: float) -> Path:
    if path.exists():
        return path
    frames = int(minutes * 60 * FPS)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        for i in range(frames):
            scene = i // (10 * FPS)  # a new "shot" every 10 s
            phase = (scene * 37) % 7 + 1
            grey = (128 + 90 * np.sin((xx * phase + yy * (8 - phase)) / 17.0 + i / 9.0)).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(grey, format="gray").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        step = audio.codec_context.frame_size
        total = int(RATE * frames / FPS)
        for start in range(0, total, step):
            t = (np.arange(start, min(start + step, total)) / RATE).astype(np.float32)
            chunk = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None, :]
            aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            aframe.sample_rate, aframe.pts, aframe.time_base = RATE, start, Fraction(1, RATE)
            out.mux(audio.encode(aframe))
        out.mux(audio.encode(None))
    partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="2,10,20")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / ".films")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"{'film':>8} {'frames':>7} {'seconds':>8} {'fps':>6} {'peak RSS MB':>12}")
    for minutes in [float(m) for m in args.minutes.split(",")]:
        film = make_film(args.workdir / f"long_{minutes:g}min.mp4", minutes)
        out = args.workdir / f"long_{minutes:g}min_color.mp4"
        # The child reports its own peak: ru_maxrss of RUSAGE_CHILDREN would be the largest child so far.
        wrapper = ("import resource, runpy, sys\n"
                   "try:\n    runpy.run_module('vidcolor', run_name='__main__')\n"
                   "finally:\n    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
        command = [sys.executable, "-c", wrapper, "remaster", str(film), "-o", str(out), "--force", "-q"]
        if args.weights:
            command += ["--weights", args.weights]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode:
            sys.exit(f"remaster failed: {result.stderr.strip()}")
        peak = int(result.stderr.split("PEAK_RSS_KB")[-1].split()[0])
        frames = int(minutes * 60 * FPS)
        print(f"{minutes:>6g} m {frames:>7} {seconds:>8.1f} {frames / seconds:>6.1f} {peak / 1024:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
