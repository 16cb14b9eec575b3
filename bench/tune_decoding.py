"""Choose how a classification model turns its colour distribution into one colour.

    python bench/tune_decoding.py [--weights W] [--photos DIR] [--every 2]
                                  [--temperatures 0.2,0.3,0.38,0.5] [--corrections 0,0.5,1] [--write]

For each temperature (the annealed mean's) and prior correction (how much of the training's
class rebalancing is taken back out), colours the held-out photos (every n-th) and scores
them. The choice: the best PSNR among the settings whose colorfulness is at least
--min-colorfulness of the truth's and whose CIEDE2000 is below leaving the photos grey.
--write puts the choice into the model's .json (the weights file is not touched).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--every", type=int, default=2, help="use every n-th photo")
    parser.add_argument("--temperatures", default="0.2,0.3,0.38,0.5")
    parser.add_argument("--corrections", default="0,0.5,1")
    parser.add_argument("--min-colorfulness", type=float, default=0.85)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    from vidcolor.evaluate import evaluate_images
    from vidcolor.images import list_images, read_image
    from vidcolor.model import Colorizer, config_path, default_weights, load_colorizer, write_config

    path = args.weights or default_weights()
    base = load_colorizer(path)
    truths = [read_image(f) for f in list_images(args.photos)[:: args.every]]
    print(f"{len(truths)} photos from {args.photos}; {path}")
    print(f"{'temperature':>11} {'correction':>10} {'PSNR':>7} {'CIEDE2000':>9} {'colourful':>9}")
    rows, grey = [], None
    for t in (float(v) for v in args.temperatures.split(",")):
        for c in (float(v) for v in args.corrections.split(",")):
            colorizer = Colorizer(base.model, replace(base.config, temperature=t, prior_correction=c), base.embedder)
            report = evaluate_images(colorizer, truths, progress=False)
            p, grey = report["prediction"], report["grey_baseline"]
            rows.append((t, c, p["psnr"], p["ciede2000"], p["colorfulness_ratio"]))
            print(f"{t:>11.2f} {c:>10.2f} {p['psnr']:>7.2f} {p['ciede2000']:>9.2f} {p['colorfulness_ratio']:>9.2f}",
                  flush=True)
    print(f"{'grey':>22} {grey['psnr']:>7.2f} {grey['ciede2000']:>9.2f} {0.0:>9.2f}")
    eligible = [r for r in rows if r[4] >= args.min_colorfulness and r[3] < grey["ciede2000"]] or rows
    t, c, *_ = max(eligible, key=lambda r: r[2])
    print(f"chosen: temperature {t}, prior correction {c}")
    if args.write:
        write_config(replace(base.config, temperature=t, prior_correction=c), config_path(Path(path)))
        print(f"written to {config_path(Path(path))}")


if __name__ == "__main__":
    main()
