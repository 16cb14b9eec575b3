"""A colorizer without TensorFlow, for tests of everything around the model: runs in subprocesses
start in a second, and it can stop at a given model call to wait for a signal.

It follows model.ColorizerProtocol: a*b* from the lightness (so shots and frames differ), at half
the input size, input sides multiples of 8 (as the paper's model: the smallest sizes reach the
optical flow).

In a subprocess: `install(settings)` makes loading a model (model.colorizer_for) hand one out, then
run the command line as usual (RUN_CLI does both).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

TESTS = str(Path(__file__).resolve().parent)

# python -c RUN_CLI SETTINGS_JSON remaster ...: the real command line, with a toy colorizer
RUN_CLI = ("import sys; sys.path.insert(0, sys.argv[1]); import toy_colorizer; "
           "toy_colorizer.install(sys.argv[2]); sys.argv = ['vidcolor', *sys.argv[3:]]; "
           "from vidcolor.cli import run; run()")


def cli_command(settings: dict, *args) -> list[str]:
    return [sys.executable, "-c", RUN_CLI, TESTS, json.dumps(settings), *map(str, args)]


class ToyColorizer:
    """pause_at: the model call that waits (writing its process id to `marker` first) until the file
    `release` exists, or for ever; swallow: that call catches a KeyboardInterrupt and goes on, as some
    libraries do; pause_once: only the first colorizer to get there (of any process) pauses."""

    batch_size = 2
    precision = "float32"
    output_stride = 2
    input_multiple = 8
    accepts_hints = True
    # bins a palette prior weighs (vidcolor.model.palette): a 13 x 13 grid over a*b* from -60 to 60
    palette_bins = np.stack(np.meshgrid(np.arange(-60, 61, 10), np.arange(-60, 61, 10)), -1).reshape(-1, 2).astype(np.float32)
    identity = "toy"

    def __init__(self, pause_at: int | None = None, marker: str | None = None, release: str | None = None,
                 swallow: bool = False, pause_once: bool = False, **_):
        self.pause_at, self.marker, self.release, self.swallow = pause_at, marker, release, swallow
        self.pause_once = pause_once
        self.calls = 0

    def embed(self, grey):
        grey = np.asarray(grey, np.float32)
        grey = grey[None] if grey.ndim == 2 else grey
        return np.repeat(grey.mean(axis=(1, 2))[:, None] / 255.0, 1000, axis=1).astype(np.float32)

    def prepare(self):
        pass  # nothing it loads later

    def styled(self, style):
        return self  # one way of colouring

    def predict_ab(self, light, embedding, hints=None, prior=None):
        """a* from the lightness and the embedding, b* 20; a hint's colour spread around it (about 6 px at
        the output size), and a prior's palette (its mean colour) mixed in half."""
        self.calls += 1
        if self.calls == self.pause_at:
            self._pause()
        light = np.asarray(light, np.float32)[:, ::2, ::2]
        a = (light - 50.0) * 0.4 + np.asarray(embedding)[:, :1, None] * 10
        ab = np.stack([a, np.full_like(light, 20.0)], axis=-1).astype(np.float32)
        if prior is not None:
            weights = np.exp(prior - prior.max(axis=1, keepdims=True))
            palette = weights / weights.sum(axis=1, keepdims=True) @ self.palette_bins
            ab = 0.5 * ab + 0.5 * palette[:, None, None, :]
        if hints is not None:
            import cv2

            for k, given in enumerate(np.asarray(hints, np.float32)[:, ::2, ::2]):
                mask = cv2.blur(given[..., 2], (13, 13))
                colour = cv2.blur(given[..., :2] * given[..., 2:], (13, 13)) / np.maximum(mask, 1e-6)[..., None]
                share = np.clip(mask * 16, 0, 1)[..., None]
                ab[k] = ab[k] * (1 - share) + colour * share
        return ab.astype(np.float32)

    def _pause(self) -> None:
        if self.marker:
            try:
                with open(self.marker, "x" if self.pause_once else "w") as file:
                    file.write(str(os.getpid()))
            except FileExistsError:
                return  # another one paused first
        try:
            deadline = time.time() + 600
            while time.time() < deadline and not (self.release and Path(self.release).exists()):
                time.sleep(0.02)
        except KeyboardInterrupt:
            if not self.swallow:
                raise


def load(options=None, **settings) -> ToyColorizer:
    """A ToyColorizer, for a batch executor's `load(options)` (functools.partial gives it settings)."""
    return ToyColorizer(**settings)


def install(settings: str | dict, monkeypatch=None) -> None:
    """Loading a model hands out a ToyColorizer(**settings); `segment_frames` (if given) becomes every
    remaster's segment length, so short films have several segments. In a test's own process, pass its
    monkeypatch (undone after the test)."""
    import vidcolor.model.colorizer
    from vidcolor.options import RemasterOptions

    settings = json.loads(settings) if isinstance(settings, str) else dict(settings)
    patch = monkeypatch.setattr if monkeypatch is not None else setattr
    # where the one factory (colorizer_for) looks it up
    patch(vidcolor.model.colorizer, "load_colorizer", lambda *args, **kwargs: ToyColorizer(**settings))
    if "segment_frames" in settings:
        of = RemasterOptions.of.__func__
        patch(RemasterOptions, "of",
              classmethod(lambda cls, **kw: of(cls, **{**kw, "segment_frames": settings["segment_frames"]})))
