"""The settings of a remaster, frozen and split by concern: the model's, the film's, and the
run's policy. `RemasterOptions.of(render_size=..., force=...)` builds them from flat names, as
the CLI and the batch have them; `options.replace(...)` changes some the same way."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

KEY_INTERVAL = 4
DEFAULT_RENDER_SIZE = 224
# x264's speed presets, fastest first (a fixed list: anything else fails only when the encoder opens)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
# Output video codecs (media/codecs.py); auto keeps the source's class: FFV1 and ProRes masters stay
# what they are, a 10-bit HEVC film stays HEVC, anything else becomes H.264.
CODECS = ("auto", "h264", "hevc", "ffv1", "prores")
# How a classification model decodes its colours (ModelConfig.decoding). vivid: the prior correction chosen on
# photos, for their colour. muted: one that takes more of the training's class rebalancing back out, chosen
# on colour clips: flat grey walls and streets stay grey where vivid paints soft blotches that a film shows
# swimming from frame to frame. Each medium has its default.
STYLES = ("vivid", "muted")
FILM_STYLE, STILL_STYLE = "muted", "vivid"


def check_style(style: str | None) -> None:
    """ValueError unless `style` is one of STYLES (or None: the medium's own)."""
    if style is not None and style not in STYLES:
        raise ValueError(f"style {style!r}: must be one of {', '.join(STYLES)}")


@dataclass(frozen=True)
class ModelSettings:
    """Which model colours the film, and how it is run (these shape the colours)."""

    weights: Path | None = None  # None: the shipped model
    precision: str = "auto"  # model.PRECISIONS; used when remaster() loads the model itself
    render_size: int = DEFAULT_RENDER_SIZE  # short side the model works at
    batch_size: int | None = None  # key frames per model call; None: the colorizer's choice (8 on CPU, 32 on GPU)
    style: str | None = None  # STYLES: how boldly the model colours; None: each medium's own (FILM_STYLE, STILL_STYLE)

    def __post_init__(self):
        check_style(self.style)


@dataclass(frozen=True)
class FilmSettings:
    """How the frames between key frames are filled and smoothed, and how the film is encoded."""

    key_interval: int = KEY_INTERVAL  # the model colours every n-th frame of a shot; flow fills the rest
    smooth: bool = True
    smooth_strength: float = 0.6
    smooth_radius: int = 2
    crf: int = 18  # x264/x265 quality (0: lossless); FFV1 is always lossless, ProRes has its profile
    preset: str = "veryfast"  # x264/x265 speed preset
    codec: str = "auto"  # CODECS
    segment_frames: int = 512  # frames per resumable segment; rounded up to a whole number of chunks
    recolor_all: bool = False  # colour the shots that are in colour already too (truecolor.py), instead of keeping them

    def __post_init__(self):
        if self.preset not in X264_PRESETS:
            raise ValueError(f"preset {self.preset!r}: must be one of {', '.join(X264_PRESETS)}")
        if self.codec not in CODECS:
            raise ValueError(f"codec {self.codec!r}: must be one of {', '.join(CODECS)}")


@dataclass(frozen=True)
class RunPolicy:
    """What the run may do to the user's files and screen (these never change the output)."""

    force: bool = False  # overwrite an existing output
    progress: bool = True


@dataclass(frozen=True)
class RemasterOptions:
    model: ModelSettings = field(default_factory=ModelSettings)
    film: FilmSettings = field(default_factory=FilmSettings)
    run: RunPolicy = field(default_factory=RunPolicy)

    @classmethod
    def of(cls, **settings) -> "RemasterOptions":
        """From flat names: RemasterOptions.of(render_size=320, crf=20, force=True)."""
        return cls().replace(**settings)

    def replace(self, **settings) -> "RemasterOptions":
        """A copy with the named settings changed, whichever part they belong to."""
        parts = {}
        for name in ("model", "film", "run"):
            part = getattr(self, name)
            mine = {k: settings.pop(k) for k in [f.name for f in fields(part)] if k in settings}
            parts[name] = replace(part, **mine) if mine else part
        if settings:
            raise TypeError(f"unknown remaster settings: {', '.join(sorted(settings))}")
        return replace(self, **parts)

    @property
    def chunk_frames(self) -> int:
        """Frames taken per model call: batch_size key frames and the frames between them."""
        if self.model.batch_size is None:
            raise ValueError("RemasterOptions.model.batch_size is not settled yet")
        return self.model.batch_size * self.film.key_interval
