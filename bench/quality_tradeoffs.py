"""Quality of the speed settings: `vidcolor evaluate` over colour clips (and photos) for each setting.

    python bench/quality_tradeoffs.py CLIP.mp4 [CLIP.mp4 ...] [--photos DIR] [--frames 150]
                                      [--key-intervals 1,2,3,4] [--render-sizes 256,224]

Each clip is greyed, remastered with each key interval and render size, and scored against
its colours (PSNR, CIEDE2000, colorfulness, colour flicker CDC, warp error); photos (a
folder) are scored for each render size. Prints one table row per setting (means over the
clips) and writes all reports to quality_tradeoffs.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

FIELDS = ("psnr", "ciede2000", "colorfulness_ratio", "cdc", "warp_error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="*")
    parser.add_argument("--photos", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--key-intervals", default="1,2,3,4")
    parser.add_argument("--render-sizes", default="256")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=Path("quality_tradeoffs.json"))
    args = parser.parse_args()

    from vidcolor.training.evaluate import evaluate_path
    from vidcolor.model import load_colorizer

    colorizer = load_colorizer(args.weights)
    sizes = [int(s) for s in args.render_sizes.split(",")]
    reports = []
    print("setting                      " + "  ".join(f"{f:>18}" for f in FIELDS))
    for size in sizes:
        if args.photos:
            report = evaluate_path(args.photos, colorizer=colorizer, render_size=size, progress=False)
            reports.append({"setting": f"photos render {size}", **report})
            print(f"photos render {size:<15}" + _row([report["prediction"]]))
        for interval in (int(k) for k in args.key_intervals.split(",")):
            per_clip = [evaluate_path(clip, colorizer=colorizer, render_size=size, key_interval=interval,
                                      limit=args.frames, progress=False) for clip in args.clips]
            reports.append({"setting": f"video render {size} key {interval}", "clips": per_clip})
            if per_clip:
                print(f"video render {size} key {interval:<6}" + _row([r["prediction"] for r in per_clip]))
    if args.clips:
        truth = [{"cdc": r["truth"]["cdc"], "warp_error": r["truth"]["warp_error"]} for r in per_clip]
        grey = [r["grey_baseline"] for r in per_clip]
        print(f"{'video truth':<29}" + _row(truth))
        print(f"{'video grey':<29}" + _row(grey))
    args.report.write_text(json.dumps(reports, indent=1, default=float))
    print(f"report: {args.report}")


def _row(scores: list[dict]) -> str:
    cells = []
    for name in FIELDS:
        values = [s[name] for s in scores if isinstance(s.get(name), (int, float))]
        cells.append(f"{statistics.mean(values):>18.5g}" if values else f"{'-':>18}")
    return "  ".join(cells)


if __name__ == "__main__":
    main()
