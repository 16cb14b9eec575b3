"""The figures behind tests/test_shipped_model.py's assertions, for any weights (a candidate to ship).

    python bench/shipped_checks.py W1.weights.h5 [W2.weights.h5 ...]

For each of scikit-image's coffee, chelsea (both among the training photos) and retina (held out):
CIEDE2000 against the truth of the coloured photo and of the grey one (the test asks for less) and
the colourfulness (more than 10). Then the median pull of a 7x7 hint on the coffee photo: the
distance to the hint's colour near it with the hint / without it (the test asks for < 0.97).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    args = parser.parse_args()
    import numpy as np
    import skimage.data

    from vidcolor.model import hints, render
    from vidcolor.color import lightness
    from vidcolor.training.evaluate import grey_version
    from vidcolor.training.metrics import ciede2000, colorfulness
    from vidcolor.model import load_colorizer
    from vidcolor.model.render import colorize_lightness
    from vidcolor.stills import colorize_array

    for weights in args.weights:
        colorizer = load_colorizer(weights)
        photos = []
        for name in ("coffee", "chelsea", "retina"):
            truth = getattr(skimage.data, name)()
            grey = grey_version(truth)
            colored = colorize_array(colorizer, grey)
            photos.append(f"{name} {ciede2000(colored, truth):.2f} (grey {ciede2000(grey, truth):.2f}, "
                          f"colourfulness {colorfulness(colored):.1f})")
        light = lightness(skimage.data.coffee())
        h, w = render.model_size(*light.shape, 224, colorizer)
        plain = colorize_lightness(colorizer, light)
        ratios = []
        for x, y in [(0.3, 0.3), (0.7, 0.5), (0.5, 0.8)]:
            cy, cx = int(y * (light.shape[0] - 1)), int(x * (light.shape[1] - 1))
            near = (slice(cy - 6, cy + 6), slice(cx - 6, cx + 6))
            for color in [(-5.0, -45.0), (60.0, 40.0), (-40.0, 40.0)]:
                hinted = colorize_lightness(colorizer, light, hints=hints.place(h, w, [(x, y, color)], size=7))
                distance = [np.linalg.norm(ab[near].reshape(-1, 2).mean(0) - color) for ab in (hinted, plain)]
                ratios.append(distance[0] / distance[1])
        print(f"{weights}: CIEDE2000 {'; '.join(photos)}; hint pull: median ratio {np.median(ratios):.3f}",
              flush=True)


if __name__ == "__main__":
    main()
