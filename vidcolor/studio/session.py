"""One studio run on one film (or still): the model loaded once, the shots scanned in the background,
the direction being edited, the pictures the page asks for, and the render.

Everything the page can do is a method here; server.py only routes requests to them. While the
studio runs it holds the output lock of what it saves (the film's direction file, a still's coloured
picture), so a second studio on the same film is refused as a second remaster of one output is.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from ..errors import InputError, VidcolorError
from ..film.direction_file import timecode
from ..film.shot_director import ShotChoice, ShotDirector
from ..film.shot_plan import ShotPlan
from ..model import colorizer_for
from ..options import FILM_STYLE, STILL_STYLE, RemasterOptions
from ..outputs import colored_name, output_lock, shots_names
from .directing import FILM, Directing
from .footage import open_footage, working_size
from .guard import Refused
from .previews import Tracks, colour_shot, colour_thumbnail, data_url, grey_of, jpeg
from .rendering import RenderJob
from .settings import StudioSettings

KEPT_PICTURES = 64


class Studio:
    """The state behind the page; a context manager (it holds the lock of what it saves)."""

    def __init__(self, source: str | Path, settings: StudioSettings | None = None, *, colorizer=None,
                 on_warning: Callable[[str], None] | None = None):
        self.source = Path(source)
        self.settings = settings or StudioSettings()
        self.footage = open_footage(self.source)
        self.style = STILL_STYLE if self.footage.kind == "still" else FILM_STYLE
        self._given, self.colorizer = colorizer, None
        self.on_warning = on_warning or (lambda message: None)
        direction_path = shots_names(self.source)[1]
        self.directing = Directing(direction_path, self.source, self.footage.frames)
        self.output = self.settings.output or self._default_output()
        self.render = RenderJob()
        self.problem: str | None = None  # why nothing can be coloured (the model or the film)
        self._model = threading.Lock()  # one picture coloured at a time
        self._following, self._caching = threading.Lock(), threading.Lock()
        self._pictures: OrderedDict[tuple, object] = OrderedDict()
        self._references: dict = {}  # reference photos read once (ShotDirector's cache)
        self._tracks = Tracks()
        self._directors: dict[tuple, ShotDirector] = {}
        self._stack = contextlib.ExitStack()
        self._preparing: threading.Thread | None = None
        self._warm = False  # the model has made its first calls (the page says ready then)

    def _default_output(self) -> Path:
        if self.footage.kind == "still":
            return colored_name(self.source)
        from ..film.remaster import default_output
        from ..media.codecs import wanted_codec

        return default_output(self.source, wanted_codec("auto", self.footage.info))

    @property
    def lock_target(self) -> Path:
        return self.output if self.footage.kind == "still" else self.directing.path

    def __enter__(self) -> "Studio":
        self._stack.enter_context(output_lock(self.lock_target))
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.render.cancel()
        self._stack.close()

    # -- loading ---------------------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Load the model and scan the film in a background thread (the page shows the progress)."""
        self._preparing = threading.Thread(target=self._prepare, name="vidcolor-studio-scan", daemon=True)
        self._preparing.start()
        return self._preparing

    def _prepare(self) -> None:
        try:
            s = self.settings
            self.colorizer = colorizer_for(self.style, self._given, s.weights, s.precision)
            self.footage.scan(self.colorizer)
            if self.footage.kind == "film":
                self.directing.check_cut([shot.start for shot in self.footage.shots])
            if self.footage.shots:
                self._warm_up()
            self._warm = True
        except VidcolorError as error:
            self.problem = str(error)
            self.on_warning(self.problem)
        except Exception as error:  # noqa: BLE001 (said on the page and in the terminal, in one line)
            self.problem = f"{type(error).__name__}: {error}"
            self.on_warning(self.problem)

    def _warm_up(self) -> None:
        """The model's first call with and without hints is slow (each builds its graph): make both before
        the user's, on the first shot."""
        self.preview(1)
        if getattr(self.colorizer, "accepts_hints", False):
            frames = self.footage.shot_frames(0, working_size(self.footage, self.colorizer, self.settings.render_size))
            grey_hint = [[(0.5, 0.5, (0.0, 0.0))]] * len(frames.strip_at)
            with self._model:
                colour_shot(self.colorizer, frames, ShotChoice(), self.footage.shots[0].embedding, grey_hint)

    def ready(self, timeout: float | None = None) -> bool:
        """Wait for the scan (tests, the bench); True once it is done."""
        if self._preparing is not None:
            self._preparing.join(timeout)
        return self._warm

    # -- what the page shows ---------------------------------------------------------------------------

    def state(self) -> dict:
        f = self.footage
        return {
            "film": {"name": self.source.name, "kind": f.kind, "frames": f.frames,
                     "direction_file": self.directing.path.name, "output": str(self.output)},
            "scan": {"done": self._warm, "frames": f.scanned_frames, "total": f.frames,
                     "model_loaded": self.colorizer is not None},
            "problem": self.problem or self.directing.problem,
            "shots": [self._shot_state(k, shot) for k, shot in enumerate(list(f.shots))],
            "direction": self.directing.tables(),
            "revision": self.directing.revision,
            "unsaved": self.directing.unsaved,
            "render": self.render.status(),
        }

    def _shot_state(self, index: int, shot) -> dict:
        return {"number": index + 1, "first_frame": shot.start, "frames": shot.end - shot.start,
                "start": timecode(shot.seconds), "end": timecode(shot.end_seconds),
                "seconds": round(shot.end_seconds - shot.seconds, 3), "looks": shot.color.describe(),
                "version": self._version(index)}

    def _version(self, index: int) -> str:
        """Changes whenever what colours the shot changes (the page refetches its pictures then)."""
        said = repr(self.directing.for_colouring().of_shot(index + 1)).encode()
        return hashlib.sha256(said).hexdigest()[:12]

    def _director(self) -> ShotDirector:
        shots = list(self.footage.shots)
        key = (self.directing.revision, len(shots))  # a new one for each edit, and as the scan finds shots
        directors = self._directors
        if key not in directors:
            director = ShotDirector(ShotPlan(shots), self.colorizer, self.directing.for_colouring(),
                                    references=self._references)
            directors = self._directors = {key: director}
        return directors[key]

    def _shot(self, number: int):
        if self.colorizer is None:
            raise Refused(409, self.problem or "the model is still loading")
        shots = self.footage.shots
        if not isinstance(number, int) or not 1 <= number <= len(shots):
            raise Refused(404, f"no shot {number} (the film has {len(shots)} shots so far)")
        return shots[number - 1]

    def _cached(self, key: tuple, make):
        with self._caching:
            if key in self._pictures:
                return self._pictures[key]
        made = make()
        with self._caching:
            self._pictures[key] = made
            while len(self._pictures) > KEPT_PICTURES:
                self._pictures.popitem(last=False)
        return made

    def thumbnail(self, number: int) -> bytes:
        """Shot `number`'s first frame, small, coloured as directed (JPEG)."""
        shot = self._shot(number)

        def make() -> bytes:
            choice = self._director().choice(number - 1)
            with self._model:
                rgb = colour_thumbnail(self.colorizer, shot.first, choice, shot.embedding, self.settings.render_size)
            return jpeg(rgb, 85)

        return self._cached(("thumb", number, self._version(number - 1)), make)

    def preview(self, number: int) -> dict:
        """Shot `number` (counted from 1) for the large view: its first frame coloured as directed and grey,
        and the strip across it with where its hints are on each frame."""
        shot, index = self._shot(number), number - 1
        return self._cached(("preview", index, self._version(index)), lambda: self._preview(index, shot))

    def _preview(self, index: int, shot) -> dict:
        choice = self._director().choice(index)
        frames = self.footage.shot_frames(index, working_size(self.footage, self.colorizer, self.settings.render_size))
        with self._following:
            placed = self._tracks.places(index, frames, choice.hints)
        with self._model:
            key, strip = colour_shot(self.colorizer, frames, choice, shot.embedding, placed)
        fps = float(self.footage.info.fps) if self.footage.kind == "film" else 1.0
        return {"number": index + 1, "mode": choice.mode, "automatic": choice.automatic,
                "frame": data_url(key), "grey": data_url(grey_of(frames.key)),
                "width": int(key.shape[1]), "height": int(key.shape[0]),
                "strip": [{"image": data_url(rgb), "frame": shot.start + at, "time": timecode(shot.seconds + at / fps),
                           "hints": [{"x": round(x, 4), "y": round(y, 4)} for x, y, _ in points]}
                          for rgb, at, points in zip(strip, frames.strip_at, placed)],
                "followed_frames": int(len(frames.working))}

    # -- what the page changes -------------------------------------------------------------------------

    def edit(self, target: str, table: dict) -> dict:
        if not self.footage.done:
            raise Refused(409, "the film is still being scanned: direct it once its shots are all found")
        if target != FILM:
            self._shot(int(target))
        self.directing.edit(target, table, self.footage.listing())
        return self.state()

    def save(self, keep_theirs: bool = False, overwrite: bool = False) -> dict:
        """A film: its direction file. A still: the picture coloured as directed, <name>_color<ext>."""
        if not self.footage.done:
            raise Refused(409, "the film is still being scanned: save once its shots are all found")
        if self.footage.kind == "still":
            return self._save_still(overwrite)
        return self.directing.save(self.footage.listing(), keep_theirs)

    def reload(self) -> dict:
        self.directing.reload()
        if self.footage.done and self.footage.kind == "film":
            self.directing.check_cut([shot.start for shot in self.footage.shots])
        return self.state()

    def _save_still(self, overwrite: bool) -> dict:
        from ..stills import colorize_image

        said = self.directing.direction.of_shot(1)
        if self.output.exists() and not overwrite:
            raise Refused(409, f"{self.output.name} exists: replace it?", reason="exists")
        from ..model.palette import DEFAULT_STRENGTH

        with self._model:
            colorize_image(self.source, self.output, colorizer=self.colorizer, reference=said.reference,
                           strength=DEFAULT_STRENGTH if said.strength is None else said.strength,
                           hints=said.hints or (), style=self.style, render_size=self.settings.render_size,
                           force=overwrite)
        return {"saved": str(self.output), "kept": None}

    def start_render(self, force: bool = False) -> dict:
        """Save the direction, then remaster the film with it in the background (resuming a cancelled render)."""
        if self.footage.kind == "still":
            raise InputError("a still is coloured by Save")
        if self.render.running:
            raise Refused(409, "a render is running already")
        saved = self.save()
        from ..film.remaster import remaster

        direction = self.directing.direction
        options = RemasterOptions.of(render_size=self.settings.render_size, force=force, progress=False)

        def remaster_film(on_frame, on_warning):
            return remaster(self.source, self.output, options, colorizer=self.colorizer, on_warning=on_warning,
                            resume=True, direction=direction, on_frame=on_frame)

        self.render.start(remaster_film, self.output, self.footage.frames)
        return {**saved, "render": self.render.status()}

    def cancel_render(self) -> dict:
        """Ask the render to stop; it does at its next frame (the page follows its state)."""
        self.render.cancel(wait=1.0)
        return self.render.status()

