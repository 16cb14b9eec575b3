"""The settings of a remaster, frozen and split by concern: the model's, the film's, and the
run's policy. `RemasterOptions.of(render_size=..., force=...)` builds them from flat names, as
the CLI and the batch have them; `options.replace(...)` changes some the same way.

Also the one home of what each setting may be (CHOICES, RANGES): `check_setting` raises an
OptionError naming the setting, which the command line says as its flag."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from numbers import Real
from pathlib import Path

from .errors import OptionError

KEY_INTERVAL = 4
# Where the model colours a shot's key frames (film/key_frames.py): every key_interval-th frame, or
# every key_interval-th frame only where the flow stops carrying the colour well, else half as often.
KEY_FRAMES = ("fixed", "adaptive")
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
# Keras dtype policies the model may run in (model.choose_precision); auto picks one for the machine.
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

# What each setting the commands take may be: one of its choices, or a number from low to high (None: no
# bound). In OPTIONAL, None too: the medium's own style, the colorizer's own batch size.
CHOICES = {"style": STYLES, "precision": PRECISIONS, "preset": X264_PRESETS, "codec": CODECS, "key_frames": KEY_FRAMES}
RANGES = {"render_size": (32, None), "key_interval": (1, 8), "batch_size": (1, None), "smooth_strength": (0, 1),
          "crf": (0, 51), "strength": (0, 4)}  # strength: how much a reference photo's palette counts (palette.py)
OPTIONAL = frozenset({"style", "batch_size"})


def allowed(name: str) -> str:
    """What setting `name` may be, in words: "one of vivid, muted", "from 1 to 8", "at least 32"."""
    if name in CHOICES:
        return f"one of {', '.join(CHOICES[name])}"
    low, high = RANGES[name]
    return f"at least {low:g}" if high is None else f"from {low:g} to {high:g}"


def check_setting(name: str, value) -> None:
    """OptionError unless `value` is one that setting `name` (a key of CHOICES or RANGES) may take."""
    if value is None and name in OPTIONAL:
        return
    if name in CHOICES:
        fits = value in CHOICES[name]
    else:
        low, high = RANGES[name]
        fits = isinstance(value, Real) and not isinstance(value, bool) and low <= value and (high is None or value <= high)
    if not fits:
        raise OptionError(name, value, f"must be {allowed(name)}")


def check_settings(**settings) -> None:
    """check_setting for each one named: check_settings(precision="auto", render_size=224)."""
    for name, value in settings.items():
        check_setting(name, value)


def check_style(style: str | None) -> None:
    """OptionError (a ValueError) unless `style` is one of STYLES (or None: the medium's own)."""
    check_setting("style", style)


@dataclass(frozen=True)
class ModelSettings:
    """Which model colours the film, and how it is run (these shape the colours)."""

    weights: Path | None = None  # None: the shipped model
    precision: str = "auto"  # PRECISIONS; used when remaster() loads the model itself
    render_size: int = DEFAULT_RENDER_SIZE  # short side the model works at
    batch_size: int | None = None  # key frames per model call; None: the colorizer's choice (8 on CPU, 32 on GPU)
    style: str | None = None  # STYLES: how boldly the model colours; None: each medium's own (FILM_STYLE, STILL_STYLE)

    def __post_init__(self):
        check_settings(precision=self.precision, render_size=self.render_size, batch_size=self.batch_size,
                       style=self.style)


@dataclass(frozen=True)
class FilmSettings:
    """How the frames between key frames are filled and smoothed, and how the film is encoded."""

    key_interval: int = KEY_INTERVAL  # the model colours every n-th frame of a shot; flow fills the rest
    key_frames: str = "fixed"  # KEY_FRAMES: adaptive, key frames every key_interval to 2*key_interval frames
    smooth: bool = True
    smooth_strength: float = 0.6
    smooth_radius: int = 2
    crf: int = 18  # x264/x265 quality (0: lossless); FFV1 is always lossless, ProRes has its profile
    preset: str = "veryfast"  # x264/x265 speed preset
    codec: str = "auto"  # CODECS
    segment_frames: int = 512  # frames per resumable segment; rounded up to a whole number of chunks
    recolor_all: bool = False  # colour the shots that are in colour already too (truecolor.py), instead of keeping them

    def __post_init__(self):
        check_settings(key_interval=self.key_interval, key_frames=self.key_frames, smooth_strength=self.smooth_strength,
                       crf=self.crf, preset=self.preset, codec=self.codec)


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

    @staticmethod
    def setting_names() -> frozenset[str]:
        """The flat names `of` and `replace` take."""
        return frozenset(f.name for part in (ModelSettings, FilmSettings, RunPolicy) for f in fields(part))

    @property
    def chunk_frames(self) -> int:
        """Frames taken per model call: batch_size key frames and the frames between them."""
        if self.model.batch_size is None:
            raise ValueError("RemasterOptions.model.batch_size is not settled yet")
        return self.model.batch_size * self.film.key_interval
