"""Speed of `vidcolor remaster` against a plain FFmpeg transcode of the same grey film.

    python bench/bench_remaster.py [--seconds 20] [--sizes 480p,1080p] [--repeats 2] [--film GREY.mp4]
                                   [--weights PATH] [--render-size N] [--key-interval N] [--batch-size N] [--preset P]
                                   [--codec C] [--cli [--cli-repeats 3]]

Makes grey films (the shipped sample scaled to 640x480 and 1920x1080, looped,
with an AAC soundtrack), then alternates, in one run on one machine:

    ffmpeg -i grey.mp4 -c:v libx264 -preset medium -crf 18 -c:a copy ref.mp4
    vidcolor remaster grey.mp4 (library call, shipped model, default settings)

and prints fps, the wall-time ratio (these shared machines are noisy: the
ratio is what counts), peak memory and the per-stage busy time. Needs the
ffmpeg binary on PATH (apt-get install ffmpeg).

--cli: also as a user runs it, start-up included: `vidcolor remaster grey.mp4 -o out --force -q` as a
command against the same ffmpeg command, alternated, --cli-repeats times (medians), beside the
in-process figures, and the CPU time (user + system) each used: where the transcode keeps every core
busy, the CPU-time ratio is the least the wall-time ratio can be. The films it makes are then at least
60 s long (--film ones are taken as given).
The in-process warm-up fills the graph cache first, so the commands start as a user's second run does.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"480p": (640, 480), "1080p": (1920, 1080)}


def make_grey_film(path: Path, size: tuple[int, int], seconds: float, fps: int = 25) -> Path:
    if path.exists():
        return path
    sample = ROOT / "samples" / "four_shots_bw.mp4"
    with av.open(str(sample)) as src:
        frames = [f.to_ndarray(format="gray") for f in src.decode(video=0)]
    import cv2

    frames = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames]
    count = int(seconds * fps)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "fast"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="stereo")
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="gray").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        step = audio.codec_context.frame_size
        t = np.arange(int(44100 * count / fps)) / 44100
        wave = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        for start in range(0, len(wave), step):
            chunk = np.ascontiguousarray(np.stack([wave[start:start + step]] * 2))
            aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            aframe.sample_rate, aframe.pts, aframe.time_base = 44100, start, Fraction(1, 44100)
            out.mux(audio.encode(aframe))
        out.mux(audio.encode(None))
    partial.rename(path)
    return path


def run_timed(command: list, **kwargs) -> tuple[float, float]:
    """Runs a command: its wall seconds and the CPU seconds (user + system) it and its threads used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def transcode_command(grey: Path, out: Path) -> list:
    return ["ffmpeg", "-v", "error", "-y", "-i", str(grey), "-c:v", "libx264", "-preset", "medium", "-crf", "18",
            "-c:a", "copy", str(out)]


def time_ffmpeg(grey: Path, out: Path) -> float:
    return run_timed(transcode_command(grey, out))[0]


def time_cli(grey: Path, out: Path, args) -> tuple[float, float]:
    """`vidcolor remaster` as a command, start-up included (the same settings as the in-process runs)."""
    command = [sys.executable, "-m", "vidcolor", "remaster", str(grey), "-o", str(out), "--force", "--quiet"]
    if args.weights:
        command += ["--weights", str(args.weights)]
    for name in ("render_size", "key_interval", "batch_size", "preset", "codec"):
        if getattr(args, name) is not None:
            command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return run_timed(command, cwd=ROOT, stdout=subprocess.DEVNULL)


def cli_report(name: str, grey: Path, frames: int, args, suffix: str) -> dict:
    """The command and the transcode alternated args.cli_repeats times: medians of wall and CPU time, ratios,
    each run. Where both keep every core busy, the CPU ratio is the floor of the wall-time ratio."""
    runs = {"ffmpeg": [], "vidcolor": []}
    for _ in range(args.cli_repeats):
        runs["ffmpeg"].append(run_timed(transcode_command(grey, args.workdir / f"ref_{name}.mp4")))
        runs["vidcolor"].append(time_cli(grey, args.workdir / f"cli_{name}{suffix}", args))
    (ref, ref_cpu), (mine, mine_cpu) = ([statistics.median(column) for column in zip(*runs[key])] for key in runs)
    print(f"{name} (command): ffmpeg {ref:.1f} s  vidcolor remaster {mine:.1f} s  ratio {mine / ref:.2f}  "
          f"({frames / mine:.1f} fps, start-up included); CPU time {ref_cpu:.1f} s against {mine_cpu:.1f} s, "
          f"ratio {mine_cpu / ref_cpu:.2f}")
    return {"ffmpeg_s": round(ref, 2), "vidcolor_s": round(mine, 2), "ratio": round(mine / ref, 2),
            "ffmpeg_cpu_s": round(ref_cpu, 2), "vidcolor_cpu_s": round(mine_cpu, 2), "cpu_ratio": round(mine_cpu / ref_cpu, 2),
            "runs": {key: [[round(t, 2) for t in run] for run in values] for key, values in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="length of the films it makes "
                        "(default 20, with --cli 60; --cli makes none shorter than 60)")
    parser.add_argument("--sizes", default="480p,1080p")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--film", type=Path, action="append", default=[],
                        help="also time this grey film of your own (repeatable)")
    parser.add_argument("--render-size", type=int, default=None)
    parser.add_argument("--key-interval", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--codec", default=None, help="the output codec (vidcolor's own output only)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / ".films")
    parser.add_argument("--cli", action="store_true", help="also time `vidcolor remaster` as a command")
    parser.add_argument("--cli-repeats", type=int, default=3)
    args = parser.parse_args()
    args.seconds = max(args.seconds or 60.0, 60.0) if args.cli else (args.seconds or 20.0)
    if not shutil.which("ffmpeg"):
        sys.exit("bench: ffmpeg is not on PATH (apt-get install ffmpeg)")
    args.workdir.mkdir(parents=True, exist_ok=True)

    from vidcolor.model import load_colorizer
    from vidcolor.options import RemasterOptions
    from vidcolor.outputs import film_suffix
    from vidcolor.film.remaster import remaster

    start = time.perf_counter()
    colorizer = load_colorizer(args.weights)
    load_seconds = time.perf_counter() - start
    overrides = {k: getattr(args, k) for k in ("render_size", "key_interval", "batch_size", "preset", "codec")
                 if getattr(args, k) is not None}
    options = RemasterOptions.of(progress=False, force=True, **overrides)
    print(f"model load: {load_seconds:.1f} s; options: render_size={options.model.render_size} "
          f"key_interval={options.film.key_interval} batch={options.model.batch_size} preset={options.film.preset} "
          f"crf={options.film.crf} codec={options.film.codec}")
    suffix = film_suffix("grey.mp4", options.film.codec if options.film.codec != "auto" else "h264")
    films = {name: make_grey_film(args.workdir / f"grey_{name}_{int(args.seconds)}s.mp4", SIZES[name], args.seconds)
             for name in filter(None, args.sizes.split(","))}
    films |= {film.stem: film for film in args.film}
    report = {}
    for name, grey in films.items():
        if not report:  # warm-up: TensorFlow traces the model on its first calls
            remaster(grey, args.workdir / f"warmup{suffix}", options, colorizer=colorizer)
        ref_times, ours, results = [], [], []
        for _ in range(args.repeats):
            ref_times.append(time_ffmpeg(grey, args.workdir / f"ref_{name}.mp4"))
            t0 = time.perf_counter()
            results.append(remaster(grey, args.workdir / f"out_{name}{suffix}", options, colorizer=colorizer))
            ours.append(time.perf_counter() - t0)
        frames = results[-1].frames
        ref, mine = statistics.median(ref_times), statistics.median(ours)
        stages = {k: round(v / frames * 1000, 1) for k, v in sorted(results[-1].stage_seconds.items())}
        report[name] = {
            "frames": frames, "ffmpeg_s": round(ref, 2), "vidcolor_s": round(mine, 2),
            "ffmpeg_fps": round(frames / ref, 1), "vidcolor_fps": round(frames / mine, 1),
            "ratio": round(mine / ref, 2), "stage_ms_per_frame": stages,
            "vidcolor_mb": round(results[-1].output.stat().st_size / 1e6, 2),
            "ffmpeg_mb": round((args.workdir / f"ref_{name}.mp4").stat().st_size / 1e6, 2),
            "runs": {"ffmpeg_s": [round(t, 2) for t in ref_times], "vidcolor_s": [round(t, 2) for t in ours]},
        }
        print(f"{name}: {frames} frames  ffmpeg {frames / ref:.1f} fps  vidcolor {frames / mine:.1f} fps  "
              f"ratio {mine / ref:.2f}  stages ms/frame {stages}")
        if args.cli:
            report[name]["command"] = cli_report(name, grey, frames, args, suffix)
    # The whole benchmark process: model, TensorFlow and the largest film's pipeline.
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
