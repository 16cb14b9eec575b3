"""The model wing, bottom to top (a module imports only modules listed before it):

- hints.py, chroma_bins.py, torch_weights.py: colour hints, a*b* bins, PyTorch weights files (no Keras);
- tf_runtime.py: TensorFlow's runtime without its API (what a frozen graph runs on);
- backend.py: Keras imported quietly, the GPUs, the precision to run in, TensorFlow's thread pool;
- heads.py: from a Keras model's output to a*b*; embedders.py: the ImageNet classifiers whose
  embedding the colorizer fuses; layers.py: the custom Keras layers;
- koalarization.py, lite0_unet.py: the architectures; registry.py: them as one table of entries;
- config.py: ModelConfig and the weights file beside it (save, load_keras_model);
- colorizer.py: the `Colorizer`, `ColorizerProtocol` and the one factory, `colorizer_for`;
- render.py, palette.py: the render step films and stills share, and a reference's palette, for
  any colorizer.

Outside this wing, code takes a colorizer as a `ColorizerProtocol` and gets one from `colorizer_for`
(or `load_colorizer`); nothing here imports TensorFlow until a model is built or loaded, and a
model whose graphs are in the graph cache colours without Keras or TensorFlow's API (graph_cache.py,
tf_runtime.py).
"""

from .backend import choose_precision, gpus, import_keras
from .colorizer import Colorizer, ColorizerProtocol, colorizer_for, load_colorizer
from .config import ModelConfig, config_path, default_weights, load_keras_model, save, write_config
from .registry import architecture_problem, build_colorizer, logit_stride

__all__ = [
    "Colorizer", "ColorizerProtocol", "ModelConfig", "architecture_problem", "build_colorizer", "choose_precision",
    "colorizer_for", "config_path", "default_weights", "gpus", "import_keras", "load_colorizer", "load_keras_model",
    "logit_stride", "save", "write_config",
]
