"""Colour direction: what a user says about the colours of a film's shots (or of a still), read
from the file `vidcolor shots` writes and checked in full before any work starts.

Per film (at the top of the file, for every shot) or per shot (under its [[shot]] entry):
- reference: a colour photo whose palette the shot takes (palette.py), with a strength;
- hints: colours at points of the shot's first frame (x, y as fractions of its width and height);
- keep = true: the shot is left as it is (already colour); keep = false: coloured even if it looks
  like colour already; grey = true: the shot stays black and white.

The file is TOML, not JSON: people edit it by hand, and TOML takes comments (the file explains
itself, and a note on why a shot is directed so can stay beside it), needs no quotes around keys
and no commas between lines, and reads like the settings files people already know. Python reads
it with its own tomllib (3.11 and later; the tomli package before). It is written by hand here, in
one fixed layout (`direction_text`), which needs no TOML writer.

Every problem is one InputError line that names the file and the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import InputError

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

MAX_STRENGTH = 4.0
DIRECTIONS = ("reference", "strength", "hints", "keep", "grey")
_LISTING = ("number", "first_frame", "start", "end")  # what `vidcolor shots` lists of each shot
_HEADER = ("film", "frames", "shots", "shot")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Hint:
    """A colour at a point: x, y as fractions of the picture's width and height (from the top left)."""

    x: float
    y: float
    color: str  # "#rrggbb"

    @property
    def ab(self) -> tuple[float, float]:
        """The colour's a*, b*."""
        import numpy as np

        from ..color import rgb_to_lab

        rgb = np.array([[[int(self.color[i : i + 2], 16) for i in (1, 3, 5)]]], np.uint8)
        a, b = rgb_to_lab(rgb)[0, 0, 1:]
        return float(a), float(b)


@dataclass(frozen=True)
class ShotDirection:
    """What is said of one shot (or, as a film's, of every shot); None: nothing said."""

    reference: Path | None = None
    strength: float | None = None
    hints: tuple[Hint, ...] | None = None
    keep: bool | None = None  # True: left as it is; False: coloured even if it looks like colour already
    grey: bool | None = None

    def over(self, film: "ShotDirection") -> "ShotDirection":
        """This shot's direction, with what it does not say taken from the film's."""
        return replace(film, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None})


@dataclass(frozen=True)
class Direction:
    """A film's direction: the film's own (for every shot) and each shot's, by shot number (from 1)."""

    film: ShotDirection = ShotDirection()
    shots: dict[int, ShotDirection] = field(default_factory=dict)
    shot_count: int | None = None  # how many shots the film has, as the file says
    frames: int | None = None  # the film's frame count, as the file says
    first_frames: dict[int, int] = field(default_factory=dict)  # where the file says shots start
    path: Path | None = None

    def of_shot(self, number: int) -> ShotDirection:
        return self.shots.get(number, ShotDirection()).over(self.film)

    def check_film(self, film: Path, frames: int) -> None:
        """InputError if the file was made for another film (another frame count)."""
        if self.frames is not None and frames and self.frames != frames:
            raise InputError(f"{self.path}: made for a film of {self.frames} frames, and {film} has {frames} "
                             f"(`vidcolor shots {film}` lists its shots)")

    def check_shot_starts(self, starts: list[int]) -> None:
        """InputError if a shot is listed at another frame than the one it starts at (`starts`: the
        film's shots as found, at least as many as the file lists): the file lists another cut."""
        for number, first in sorted(self.first_frames.items()):
            if number > len(starts):
                raise InputError(f"{self.path}: shot {number} starts at frame {first} in the file, and the film has "
                                 f"{len(starts)} shots: the file lists another cut of it (`vidcolor shots` again)")
            if starts[number - 1] != first:
                raise InputError(f"{self.path}: shot {number} starts at frame {starts[number - 1]} of the film, not at "
                                 f"{first}: the file lists another cut of it (`vidcolor shots` again)")

    def identity(self) -> str:
        """A digest of everything that shapes the colours, the reference photos' contents included
        (a resumed film must be directed the same)."""
        digest = hashlib.sha256()
        parts = [("film", self.film)] + sorted(self.shots.items())
        for name, direction in parts:
            said = {k: v for k, v in asdict(direction).items() if v is not None}
            digest.update(json.dumps([name, said], default=str, sort_keys=True).encode())
            if direction.reference is not None:
                digest.update(direction.reference.read_bytes())
        return digest.hexdigest()[:16]


def read_direction(path: str | Path) -> Direction:
    """The direction in a TOML file, fully checked (InputError: one line naming the file and the entry)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such direction file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the direction file ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not a TOML direction file ({exc})") from None
    return _direction(data, path)


def direction_from_data(data: dict, path: str | Path) -> Direction:
    """The direction in `data`, laid out as a parsed direction file is (the studio's edits come so),
    checked as read_direction checks a file; `path`: the file it belongs to (references are from its folder)."""
    return _direction(data, Path(path))


def _direction(data: dict, path: Path) -> Direction:
    _known(data, _HEADER + DIRECTIONS, path, "the top of the file")
    count, frames = data.get("shots"), data.get("frames")
    for key, value in (("shots", count), ("frames", frames)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InputError(f"{path}: {key} = {value!r}: must be a whole number above 0")
    film = _shot_direction(data, path, "the film")
    entries = data.get("shot", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{path}: shot must be a list of [[shot]] entries")
    shots, first_frames = {}, {}
    for k, entry in enumerate(entries, 1):
        number = entry.get("number")
        where = f"shot {number}" if isinstance(number, int) and not isinstance(number, bool) else f"[[shot]] entry {k}"
        _known(entry, _LISTING + DIRECTIONS, path, where)
        if where.startswith("[[shot]]"):
            raise InputError(f"{path}: {where}: needs a shot number (number = N)")
        if number in shots:
            raise InputError(f"{path}: {where}: listed twice")
        if number < 1 or (count is not None and number > count):
            raise InputError(f"{path}: {where}: no such shot (the film has {count or 'no'} shots, numbered from 1)")
        if count is None and any(entry.get(key) is not None for key in DIRECTIONS):
            raise InputError(f"{path}: {where}: the file does not say how many shots the film has "
                             "(shots = N; `vidcolor shots FILM` writes it)")
        first = entry.get("first_frame")
        if first is not None:
            if not isinstance(first, int) or isinstance(first, bool) or first < 0:
                raise InputError(f"{path}: {where}: first_frame = {first!r}: must be a frame number")
            first_frames[number] = first
        shots[number] = _shot_direction(entry, path, where)
    return Direction(film, shots, count, frames, first_frames, path)


def _known(table: dict, known: tuple[str, ...], path: Path, where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise InputError(f"{path}: {where}: unknown setting {unknown[0]!r} (known: {', '.join(DIRECTIONS)})")


def _shot_direction(table: dict, path: Path, where: str) -> ShotDirection:
    reference, strength, hints = table.get("reference"), table.get("strength"), table.get("hints")
    keep, grey = table.get("keep"), table.get("grey")
    for key, value in (("keep", keep), ("grey", grey)):
        if value is not None and not isinstance(value, bool):
            raise InputError(f"{path}: {where}: {key} = {value!r}: must be true or false")
    if keep and grey:
        raise InputError(f"{path}: {where}: keep and grey both set: choose one")
    if (keep or grey) and (reference is not None or hints):
        raise InputError(f"{path}: {where}: a shot left {'as it is' if keep else 'grey'} takes no reference or hints")
    if reference is not None:
        if not isinstance(reference, str) or not reference:
            raise InputError(f"{path}: {where}: reference = {reference!r}: must be the path of a colour photo")
        reference = path.parent / reference
        if not reference.is_file():
            raise InputError(f"{path}: {where}: reference {reference}: no such file")
        _check_photo(reference, path, where)
    if strength is not None:
        if not isinstance(strength, (int, float)) or isinstance(strength, bool) or not 0 <= strength <= MAX_STRENGTH:
            raise InputError(f"{path}: {where}: strength = {strength!r}: must be a number from 0 to {MAX_STRENGTH:g}")
        strength = float(strength)
    if hints is not None:
        if not isinstance(hints, list):
            raise InputError(f"{path}: {where}: hints must be a list: hints = [{{ x = 0.3, y = 0.4, color = \"#1f3a93\" }}]")
        hints = tuple(_hint(h, path, f"{where}: hint {k}") for k, h in enumerate(hints, 1))
    return ShotDirection(reference, strength, hints, keep, grey)


def _check_photo(reference: Path, path: Path, where: str) -> None:
    """InputError naming the file and the entry unless `reference` reads as a picture: read now,
    before the model loads, not when its shot comes."""
    from ..images import read_image  # OpenCV: only for a direction that names a photo

    try:
        read_image(reference, on_warning=lambda message: None)  # a damaged photo is told when it is used
        return
    except InputError as exc:
        problem = str(exc).removeprefix(f"{reference}: ")
    except OSError as exc:
        problem = f"cannot read ({exc.strerror or exc})"
    raise InputError(f"{path}: {where}: reference {reference}: {problem}")


def _hint(table, path: Path, where: str) -> Hint:
    if not isinstance(table, dict) or set(table) != {"x", "y", "color"}:
        raise InputError(f"{path}: {where}: must be {{ x = 0.3, y = 0.4, color = \"#1f3a93\" }} (x, y, color)")
    try:
        return make_hint(table["x"], table["y"], table["color"])
    except ValueError as exc:
        raise InputError(f"{path}: {where}: {exc}") from None


def make_hint(x, y, color) -> Hint:
    """A checked Hint; ValueError saying what is wrong."""
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{name} = {value!r}: must be a fraction of the picture, from 0 to 1")
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise ValueError(f"color {color!r}: not a colour of the form #rrggbb")
    return Hint(float(x), float(y), color.lower())


def parse_hint(text: str) -> Hint:
    """`0.3,0.4=#1f3a93` (the command line's --hint) -> Hint; InputError naming it."""
    try:
        place, color = text.split("=")
        x, y = (float(v) for v in place.split(","))
        return make_hint(x, y, color.strip())
    except ValueError as exc:
        why = str(exc) if "must be" in str(exc) or "#rrggbb" in str(exc) else "expected X,Y=#RRGGBB, X and Y from 0 to 1"
        raise InputError(f"--hint {text}: {why}") from None


def timecode(seconds: float) -> str:
    """00:01:02.345"""
    millis = int(round(max(0.0, seconds) * 1000))
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


_GUIDE = """\
# Colour direction for {film}, written by `vidcolor shots` (the contact sheet shows each shot's
# first frame with its number). Use it with:  vidcolor remaster {film} --direction {name}
#
# Say what you want under a shot, or at the top (before the first [[shot]]) for every shot:
#   reference = "photo.jpg"   a colour photo whose palette the shot takes (a path from this file's folder)
#   strength = 1.0            how strongly, 0 to {top:g} (1 by default; 2 and more: mostly the photo's colours)
#   hints = [{{ x = 0.30, y = 0.40, color = "#1f3a93" }}]
#                             colours at points of the shot's first frame (x, y: fractions of its width
#                             and height from the top left); a hint follows what it is on as the shot moves
#   keep = true               leave the shot as it is (it is in colour already); keep = false colours it anyway
#   grey = true               leave the shot black and white
# Shots that are in colour already (see "looks like") are left as they are unless told otherwise.

film = {film_string}
frames = {frames}  # the film's frame count: these shots are this film's
shots = {count}
"""


def direction_text(film: Path, frames: int, listing: list[tuple[int, float, float, str]], name: str,
                   direction: Direction | None = None) -> str:
    """The file `vidcolor shots` writes: a guide, then every shot. listing: (first frame, start and end
    in seconds, what it looks like) per shot, in order; direction: what is said, for the film and under
    each shot (the studio saves so; read_direction reads it back the same)."""
    direction = direction or Direction()
    folder = direction.path.parent if direction.path is not None else film.parent  # references are from the file's
    text = _GUIDE.format(film=film.name, name=name, top=MAX_STRENGTH, film_string=json.dumps(film.name, ensure_ascii=False),
                         frames=frames, count=len(listing))
    text += _said_lines(direction.film, folder)
    for number, (first, start, end, looks) in enumerate(listing, 1):
        text += (f"\n[[shot]]\nnumber = {number}\nfirst_frame = {first}\nstart = \"{timecode(start)}\"\n"
                 f"end = \"{timecode(end)}\"\n# looks like: {looks}\n")
        text += _said_lines(direction.shots.get(number, ShotDirection()), folder)
    return text


def said_table(direction: ShotDirection, folder: Path) -> dict:
    """What `direction` says, as its entry in a direction file in `folder` reads (reference relative to it)."""
    table = {}
    for key in DIRECTIONS:
        value = getattr(direction, key)
        if key == "reference" and value is not None:
            value = Path(os.path.relpath(value, folder)).as_posix()
        elif key == "hints" and value is not None:
            value = [{"x": hint.x, "y": hint.y, "color": hint.color} for hint in value]
        if value is not None:
            table[key] = value
    return table


def _said_lines(direction: ShotDirection, folder: Path) -> str:
    """said_table as TOML lines (json.dumps writes TOML's strings, numbers and booleans alike)."""
    lines = []
    for key, value in said_table(direction, folder).items():
        if key == "hints":
            value = "[" + ", ".join(f'{{ x = {h["x"]!r}, y = {h["y"]!r}, color = "{h["color"]}" }}'
                                    for h in value) + "]"
        else:
            value = json.dumps(value, ensure_ascii=False)
        lines.append(f"{key} = {value}\n")
    return "".join(lines)
