"""vidcolor: black-and-white films and photographs, back in colour.

    import vidcolor
    vidcolor.remaster("old_film.mp4")                 # -> old_film_color.mp4, sound kept
    vidcolor.colorize_image("grandma.jpg")            # -> grandma_color.jpg
    vidcolor.list_shots("old_film.mp4")               # -> old_film_shots.png, old_film_direction.toml
    vidcolor.remaster("old_film.mp4", direction="old_film_direction.toml")
    colorizer = vidcolor.load_colorizer()             # load once, pass colorizer= to many calls

Names are imported on first use, so `import vidcolor` stays light (no TensorFlow) and changes
nothing (TensorFlow's start-up chatter is silenced where Keras is imported: model.import_keras).
"""

__version__ = "0.1.0"

_EXPORTS = {
    "remaster": "film.remaster",
    "RemasterOptions": "options",
    "colorize_image": "stills",
    "colorize_array": "stills",
    "list_shots": "film.shot_list",
    "read_direction": "film.direction_file",
    "load_colorizer": "model",
    "run_batch": "batch.archive",
    "evaluate_path": "training.evaluate",
    "train": "training.train",
    "TrainOptions": "training.train",
    "VidcolorError": "errors",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"vidcolor.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vidcolor' has no attribute {name!r}")
