"""What a studio run is set to: the model's settings, where a render writes, and where it listens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import DEFAULT_RENDER_SIZE, check_settings


@dataclass(frozen=True)
class StudioSettings:
    weights: Path | None = None  # None: the shipped model
    precision: str = "auto"
    render_size: int = DEFAULT_RENDER_SIZE  # as remaster's --render-size: the previews colour as the render will
    output: Path | None = None  # where a render writes; None: beside the source, as remaster (or colorize) names it
    host: str = "127.0.0.1"  # another address exposes the film to whoever can reach it there (with the link)
    port: int = 0  # 0: a free one

    def __post_init__(self):
        check_settings(precision=self.precision, render_size=self.render_size)
