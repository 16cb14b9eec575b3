"""The direction being edited in the studio: one `Direction`, made and checked by the direction file's
own reader on every edit (direction_file.direction_from_data), and saved by its own writer
(direction_text), so the studio, `vidcolor shots` and `remaster --direction` share one schema.

An edit replaces what is said of one target (the film, or a shot) with a table laid out as that
entry of the file is (reference, strength, hints, keep, grey). References are chosen only inside
the film's folder.

Saving never loses the user's work: the studio opens the direction file if there is one; if the
file changed on disk since it was opened (edited by hand meanwhile), save is refused until the user
says which to keep: both (the hand-edited text is kept beside it as `<name>.hand-edited.toml`) or
theirs (reloaded). A file that holds text the writer does not write (the user's comments) is kept
beside the same way before the studio first writes over it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from ..film.direction_file import DIRECTIONS, Direction, direction_from_data, direction_text, read_direction, said_table
from ..outputs import write_bytes, write_text
from .guard import Refused, inside

HINT_DIGITS = 4  # a hint's place is kept to 1/10,000 of the picture: what the file writes reads back the same
FILM = "film"


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class Directing:
    """What is said of a film and its shots, as the page edits it, and its direction file."""

    def __init__(self, path: Path, source: Path, frames: int):
        self.path, self.source, self.frames = Path(path), Path(source), frames
        self.folder = self.path.parent
        on_disk = _read(self.path)
        self.direction = read_direction(self.path) if on_disk is not None else Direction(path=self.path)
        self.direction.check_film(self.source, frames)
        self._loaded = self.direction  # as read: the writer's text of it tells whether the file holds more
        self._disk = _digest(on_disk)  # the file as the studio last read or wrote it
        self._written = False  # the studio has written the file in this run
        self.revision = self.saved_revision = 0
        self.problem: str | None = None  # why edits and saves are refused (the file lists another cut)
        self.lock = threading.Lock()

    @property
    def unsaved(self) -> bool:
        return self.revision != self.saved_revision

    def tables(self) -> dict:
        """What is said, as the page shows it: {"film": table, "shots": {number: table}}."""
        d = self.direction
        return {FILM: said_table(d.film, self.folder),
                "shots": {str(n): said_table(s, self.folder) for n, s in sorted(d.shots.items())}}

    def for_colouring(self) -> Direction:
        """The direction without the shot starts it lists (the studio checks them once the scan is done)."""
        return replace(self.direction, first_frames={})

    def check_cut(self, starts: list[int]) -> None:
        """Once the film is scanned: a direction file made for another cut of it is not edited or saved over."""
        try:
            self.direction.check_shot_starts(starts)
        except InputError as error:
            self.problem = str(error)

    def edit(self, target: str, table: dict, listing: list[tuple[int, float, float, str]]) -> None:
        """Say `table` of `target` ("film" or a shot number) instead of what was said; InputError (one line,
        from the file's reader) if the direction it makes is not one the file could hold."""
        if self.problem:
            raise Refused(409, self.problem)
        if not isinstance(table, dict):
            raise InputError("an edit is a table: {reference, strength, hints, keep, grey}")
        tables = self.tables()
        said = tables[FILM] if target == FILM else tables["shots"].get(str(int(target)), {})
        cleaned = self._cleaned(table, said.get("reference"))
        if target == FILM:
            tables[FILM] = cleaned
        else:
            tables["shots"][str(int(target))] = cleaned
        with self.lock:
            self.direction = direction_from_data(self._file_data(tables, listing), self.path)
            self.revision += 1

    def _cleaned(self, table: dict, said_reference: str | None) -> dict:
        """The table as the file holds it: hints' places rounded, a newly chosen reference checked to be in
        the film's folder (one the file named already, anywhere, stays)."""
        unknown = sorted(set(table) - set(DIRECTIONS))
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r} (known: {', '.join(DIRECTIONS)})")
        table = {key: value for key, value in table.items() if value is not None}
        if "reference" in table and table["reference"] != said_reference:
            path = inside(self.folder, table["reference"])
            table["reference"] = path.relative_to(self.folder.resolve()).as_posix()
        if isinstance(table.get("hints"), list):
            table["hints"] = [{**h, "x": round(h["x"], HINT_DIGITS), "y": round(h["y"], HINT_DIGITS)}
                              if isinstance(h, dict) and all(isinstance(h.get(k), float) for k in "xy") else h
                              for h in table["hints"]]
        return table

    def _file_data(self, tables: dict, listing: list) -> dict:
        """The tables laid out as a parsed direction file is."""
        shots = [{"number": number, "first_frame": listing[number - 1][0], **table}
                 for number, table in sorted((int(n), t) for n, t in tables["shots"].items()) if table]
        if any(s["number"] > len(listing) for s in shots):
            raise InputError(f"no such shot (the film has {len(listing)} shots, numbered from 1)")
        return {"frames": self.frames, "shots": len(listing), **tables[FILM], "shot": shots}

    def text(self, listing: list, direction: Direction | None = None) -> str:
        return direction_text(self.source, self.frames, listing, self.path.name, direction or self.direction)

    def save(self, listing: list, keep_theirs: bool = False) -> dict:
        """Write the direction file; {"saved": path, "kept": path of the hand-edited text kept beside, or None}.
        Refused (409, reason "conflict") if the file changed on disk since the studio read it, unless keep_theirs."""
        if self.problem:
            raise Refused(409, self.problem)
        with self.lock:
            revision = self.revision
            on_disk = _read(self.path)
            kept = None
            if on_disk is not None and _digest(on_disk) != self._disk:
                if not keep_theirs:
                    raise Refused(409, f"{self.path.name} was changed on disk since the studio read it: keep both "
                                  "(it is kept beside as another file) or load it", reason="conflict")
                kept = self._keep_aside(on_disk)
            elif on_disk is not None and not self._written and on_disk.decode(errors="replace") != self.text(
                    listing, self._loaded):
                kept = self._keep_aside(on_disk)  # the user's own text (comments): kept before the first write
            text = self.text(listing)
            write_text(self.path, text)
            self._disk, self._written = _digest(text.encode()), True
            self.saved_revision = revision
        return {"saved": str(self.path), "kept": None if kept is None else str(kept)}

    def _keep_aside(self, data: bytes) -> Path:
        stem = self.path.name.removesuffix(".toml")
        for k in range(1, 1000):
            aside = self.folder / f"{stem}.hand-edited{'' if k == 1 else f'-{k}'}.toml"
            if not aside.exists():
                return write_bytes(aside, data)
        raise InputError(f"{self.folder}: too many hand-edited copies of {self.path.name}; remove some")

    def reload(self) -> None:
        """Take the file as it is on disk (what the studio had unsaved is dropped, as the user chose)."""
        with self.lock:
            on_disk = _read(self.path)
            direction = read_direction(self.path) if on_disk is not None else Direction(path=self.path)
            direction.check_film(self.source, self.frames)
            self.direction = self._loaded = direction
            self._disk, self._written = _digest(on_disk), False
            self.problem = None
            self.revision += 1
            self.saved_revision = self.revision
