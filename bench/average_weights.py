"""Average several weights files of one run (a "model soup" of its epochs) into one.

    python bench/average_weights.py OUT.weights.h5 runs/R/epochs/epoch010.weights.h5 ... epoch013.weights.h5

The files must share one architecture and config (epochs of the same run); the average is saved
with the first file's config (its decoding settings too) beside it as OUT.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("weights", type=Path, nargs="+")
    args = parser.parse_args()
    import numpy as np

    from vidcolor import model as model_lib

    config, model = model_lib.load_keras_model(args.weights[0], "float32")
    total = [np.asarray(w, np.float64) for w in model.get_weights()]
    for path in args.weights[1:]:
        _, other = model_lib.load_keras_model(path, "float32")
        total = [t + w for t, w in zip(total, other.get_weights())]
    model.set_weights([(t / len(args.weights)).astype(np.float32) for t in total])
    print(model_lib.save(model, config, args.out))


if __name__ == "__main__":
    main()
