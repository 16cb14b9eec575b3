"""A batch of short films: the local executor against Ray workers on this machine.

    python bench/bench_ray.py [--films 4] [--seconds 4] [--workers 2] [--size 480x320] [--weights PATH]

Makes `--films` grey films (the shipped sample looped, with an AAC soundtrack; bench_remaster's
maker), then, in one run, with the shipped model and default settings:

    run_batch(films, out/local)                                   the local executor: one process
    run_batch(films, out/ray, executor=RayExecutor(worker_cpus=N))  --workers Ray actors

and prints the wall time of each (the start of the local Ray instance apart; the local model's
load apart, while the workers' loads are in Ray's time, so `speedup` adds it to the local time
and `speedup_after_start` compares the colouring once every worker has its model), the per-film
seconds the manifest records, and the cost of joining a film's segments on the driver (what a
film split across workers adds there).

On a 2-core machine expect about 1x: the local executor already keeps both cores busy (the
model, decoding, smoothing and encoding run in their own threads), so two workers of one core
each share the same two cores. The gain is across machines: see the README's "An archive on a
cluster" for the scaling expected per added GPU node from these per-film figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_remaster import make_grey_film  # noqa: E402


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def film_figures(summary) -> dict:
    rows = [r for r in summary.rows if r.kind == "video"]
    seconds = [r.seconds for r in rows]
    return {"films": len(rows), "frames": sum(r.frames for r in rows), "film_s": [round(s, 2) for s in seconds],
            "median_film_s": round(statistics.median(seconds), 2),
            "median_film_fps": round(statistics.median(r.frames / r.seconds for r in rows), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (one CPU core each)")
    parser.add_argument("--size", default="480x320")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / ".ray")
    args = parser.parse_args()

    import ray

    from vidcolor.batch.archive import LocalExecutor, run_batch
    from vidcolor.model import load_colorizer
    from vidcolor.options import RemasterOptions
    from vidcolor.film.remaster import remaster
    from vidcolor.batch.ray_executor import RayExecutor

    width, height = map(int, args.size.split("x"))
    src = args.workdir / "films"
    for folder in (src, args.workdir / "out"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    grey = make_grey_film(args.workdir / f"grey_{args.size}_{args.seconds:g}s.mp4", (width, height), args.seconds)
    for i in range(args.films):
        shutil.copy(grey, src / f"film{i + 1}.mp4")
    options = RemasterOptions.of(weights=args.weights)
    report = {"films": args.films, "frames_per_film": None, "size": args.size, "workers": args.workers}

    colorizer, report["model_load_s"] = timed(load_colorizer, args.weights)
    # warm-up, and what joining a film's segments costs the driver (pieces.SplitFilm.join)
    warm = remaster(grey, args.workdir / "out" / "warm.mp4", options.replace(progress=False), colorizer=colorizer)
    report["frames_per_film"] = warm.frames
    report["join_ms_per_frame"] = round(warm.stage_seconds.get("join", 0.0) / warm.frames * 1000, 3)
    local, report["local_wall_s"] = timed(run_batch, src, args.workdir / "out" / "local", options,
                                          executor=LocalExecutor(colorizer), progress=False)
    report["local"] = film_figures(local)

    _, report["ray_init_s"] = timed(ray.init, num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
                                    configure_logging=False)
    try:
        # the workers' model loads (in parallel) are in this wall time; the local one's is not
        executor = RayExecutor(worker_cpus=1)
        spread, report["ray_wall_s"] = timed(run_batch, src, args.workdir / "out" / "ray", options,
                                             executor=executor, progress=False)
    finally:
        ray.shutdown()
    report["ray_workers_ready_s"] = round(executor.startup_seconds, 2)  # actors started, models loaded
    report["ray"] = film_figures(spread)
    # end to end, each loading its model(s); and once the workers have theirs (the local model was warm)
    report["speedup"] = round((report["local_wall_s"] + report["model_load_s"]) / report["ray_wall_s"], 2)
    report["speedup_after_start"] = round(report["local_wall_s"] / (report["ray_wall_s"] - executor.startup_seconds), 2)
    report = {k: round(v, 2) if isinstance(v, float) else v for k, v in report.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
