"""Choose how a classification model turns its colour distribution into one colour.

    python bench/tune_decoding.py --photos DIR [--weights W] [--every 2]
                                  [--temperatures 0.2,0.3,0.38,0.5] [--corrections 0,0.5,1] [--write]
    python bench/tune_decoding.py --films CLIP... [--weights W] [--frames 120] [--corrections 0.5,0.55,0.6]
                                  [--min-gain 1.0] [--write]

One of --photos (a folder of held-out colour photos) and --films (colour clips) is required.

For each temperature (the annealed mean's) and prior correction (how much of the training's
class rebalancing is taken back out), colours the held-out photos (every n-th) and scores
them. The choice: the best PSNR among the settings whose colorfulness is at least
--min-colorfulness of the truth's and whose CIEDE2000 is below leaving the photos grey.
--write puts the choice into the model's .json (the weights file is not touched).

--films chooses the muted style's correction (options.STYLES) instead: each colour clip's first
--frames frames are greyed and remastered at each correction (the model's temperature), as
`vidcolor evaluate CLIP` does; the choice is the most colour (the smallest correction) whose
mean PSNR over the clips is at least --min-gain dB (default 1.0, issue 29's bar for films) above
leaving them grey. Each row also gives the clips' colourfulness (the sum of theirs over the sum of
the truth's) and their mean share of false colour. --write puts the choice into the .json as
muted_prior_correction.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--photos", type=Path, help="held-out colour photos: choose the temperature and correction")
    parser.add_argument("--every", type=int, default=2, help="use every n-th photo")
    parser.add_argument("--temperatures", default="0.2,0.3,0.38,0.5")
    parser.add_argument("--corrections", default="0,0.5,1")
    parser.add_argument("--min-colorfulness", type=float, default=0.85)
    parser.add_argument("--write", action="store_true")
    source.add_argument("--films", type=Path, nargs="+", help="colour clips: choose the muted style's correction")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--min-gain", type=float, default=1.0, help="--films: dB above grey's PSNR the choice must reach")
    args = parser.parse_args()
    if args.films:
        return tune_films(args)

    from vidcolor.training.evaluate import evaluate_images
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


def tune_films(args) -> None:
    from vidcolor.training.evaluate import evaluate_video
    from vidcolor.model import Colorizer, config_path, default_weights, load_colorizer, write_config

    path = args.weights or default_weights()
    base = load_colorizer(path)
    print(f"{len(args.films)} clips, first {args.frames} frames; {path}")
    print(f"{'correction':>10} " + " ".join(f"{clip.stem[:12]:>12}" for clip in args.films)
          + f" {'mean':>7} {'grey':>7} {'colour':>7} {'false':>7}")
    rows = []
    for c in (float(v) for v in args.corrections.split(",")):
        config = replace(base.config, prior_correction=c, muted_prior_correction=c)
        colorizer = Colorizer(base.model, config, base.embedder)
        reports = [evaluate_video(colorizer, clip, limit=args.frames, progress=False) for clip in args.films]
        psnrs = [r["prediction"]["psnr"] for r in reports]
        grey = sum(r["grey_baseline"]["psnr"] for r in reports) / len(reports)
        rows.append((c, sum(psnrs) / len(psnrs), grey))
        colour = (sum(r["prediction"]["colorfulness"] for r in reports)
                  / sum(r["prediction"]["truth_colorfulness"] for r in reports))
        false = sum(r["prediction"]["false_color"] for r in reports) / len(reports)
        print(f"{c:>10.2f} " + " ".join(f"{v:>12.2f}" for v in psnrs)
              + f" {rows[-1][1]:>7.2f} {grey:>7.2f} {colour:>7.3f} {100 * false:>6.2f}%", flush=True)
    above = [r for r in rows if r[1] >= r[2] + args.min_gain]
    if not above:
        print(f"no correction tried takes the clips {args.min_gain} dB above grey's PSNR: try larger ones")
        return
    c = min(above)[0]
    print(f"chosen: muted prior correction {c}")
    if args.write:
        write_config(replace(base.config, muted_prior_correction=c), config_path(Path(path)))
        print(f"written to {config_path(Path(path))}")


if __name__ == "__main__":
    main()
