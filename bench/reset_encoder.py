"""A lite0_unet's decoder over EfficientNet-Lite0's ImageNet encoder: a starting point for training.

    python bench/reset_encoder.py OUT.weights.h5 [IN.weights.h5 (default: the shipped model)]
    vidcolor train ../shared/data/train RUN --init OUT.weights.h5 --freeze-steps 1000000 ...

The shipped model fine-tuned its encoder on the training photos; its decoder also learned to follow
hints and to stay calm on the colour clips. Putting the ImageNet encoder back and training the
decoder alone keeps the ImageNet features that a frozen-encoder run colours photos better with
(see the model card). OUT gets IN's config (its decoding settings too) beside it as OUT.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("weights", type=Path, nargs="?", default=None)
    args = parser.parse_args()

    from vidcolor import model as model_lib
    from vidcolor.embedders import lite0_imagenet_state

    config, model = model_lib.load_model(args.weights or model_lib.default_weights(), "float32")
    if config.architecture != "lite0_unet":
        sys.exit(f"reset_encoder: {config.architecture} has no pretrained encoder")
    imagenet = model_lib.build_colorizer(config, "float32", encoder_state=lite0_imagenet_state())
    model.get_layer("encoder").set_weights(imagenet.get_layer("encoder").get_weights())
    print(model_lib.save(model, config, args.out))


if __name__ == "__main__":
    main()
