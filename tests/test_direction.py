"""Directing the colour, without TensorFlow (the toy colorizer): `vidcolor shots`, direction files and
their one-line errors, colour shots kept, keep / grey / hints / reference in a film, resume."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from films import make_film
from toy_colorizer import ToyColorizer, install
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.film.direction_file import parse_hint, read_direction
from vidcolor.errors import InputError
from vidcolor.media import decode_frames, probe_video
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.film.segments import parts_folder
from vidcolor.film.shot_list import list_shots
from vidcolor.film.shot_plan import ShotPlan

runner = CliRunner()
OPTIONS = dict(progress=False, crf=0, batch_size=2)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Three shots of 12 frames: a grey cat, a colour coffee cup, a grey rocket (crf 0: the colour exactly)."""
    return make_film(tmp_path_factory.mktemp("films") / "mixed.mp4",
                     [("chelsea", "grey"), ("coffee", "colour"), ("rocket", "grey")])


def chroma(path):
    return [(f.u.astype(int), f.v.astype(int)) for f in decode_frames(path)]


def test_shots_lists_the_cuts_the_remaster_uses_and_a_direction_file(tmp_path, mixed, monkeypatch):
    install({}, monkeypatch)
    result = runner.invoke(app, ["shots", str(mixed), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    listing = result.output.splitlines()
    assert listing[1].split()[:4] == ["2", "frame", "12", "00:00:00.480"] and "colour" in listing[1]
    assert "black and white" in listing[0] and "black and white" in listing[2]
    sheet, direction = tmp_path / "mixed_shots.png", tmp_path / "mixed_direction.toml"
    assert sheet.is_file() and direction.is_file()
    read = read_direction(direction)
    assert read.shot_count == 3 and read.frames == 36 and read.first_frames == {1: 0, 2: 12, 3: 24}
    with ShotPlan.scan(mixed, probe_video(mixed), ToyColorizer()) as plan:  # what remaster() uses
        assert plan.finish().cuts == [12, 24]
    again = runner.invoke(app, ["shots", str(mixed), "-o", str(tmp_path)])
    assert again.exit_code == 3 and "already exists" in again.output  # an edited direction file is never lost
    preview = runner.invoke(app, ["shots", str(mixed), "-o", str(tmp_path), "--preview", "--force", "-q"])
    assert preview.exit_code == 0, preview.output
    import cv2

    assert cv2.imread(str(sheet)).shape[1] > 1.8 * cv2.imread(str(sheet)).shape[0]  # before | after, 3 cells


def test_a_colour_shot_between_grey_shots_is_kept_and_the_others_coloured(tmp_path, mixed):
    result = remaster(mixed, tmp_path / "out.mp4", RemasterOptions.of(**OPTIONS), colorizer=ToyColorizer())
    assert result.kept_shots == [2]
    before, after = chroma(mixed), chroma(result.output)
    for k, ((u0, v0), (u1, v1)) in enumerate(zip(before, after)):
        if 12 <= k < 24:
            np.testing.assert_array_equal(u1, u0)  # crf 0: exactly the source's chroma
            np.testing.assert_array_equal(v1, v0)
        else:
            assert np.abs(u0 - 128).max() <= 1 and np.abs(u1 - 128).mean() > 5  # it was grey, now coloured
    everything = remaster(mixed, tmp_path / "all.mp4", RemasterOptions.of(**OPTIONS, recolor_all=True),
                          colorizer=ToyColorizer())
    assert everything.kept_shots == []
    assert np.abs(chroma(everything.output)[15][0] - before[15][0]).mean() > 5


def test_toned_black_and_white_is_not_taken_for_colour(tmp_path):
    film = make_film(tmp_path / "toned.mp4", [("astronaut", "sepia"), ("coffee", "blue"), ("chelsea", "colour"),
                                               ("rocket", "sepia")], frames=8, crf=23)
    shots = list_shots(film, tmp_path).shots
    assert [s.is_color for s in shots] == [False, False, True, False]
    assert shots[0].looks.startswith("black and white, tinted") and shots[2].looks.startswith("colour")


def test_the_summary_says_which_shots_were_kept(tmp_path, mixed, monkeypatch):
    install({}, monkeypatch)
    result = runner.invoke(app, ["remaster", str(mixed), "-o", str(tmp_path / "out.mp4"), "-q"])
    assert result.exit_code == 0, result.output
    assert "shot 2: in colour already, left as it was (--recolor-all colours them too)" in result.output


def write(path, text):
    path.write_text(text)
    return path


def test_keep_grey_hints_and_reference_in_a_film(tmp_path, mixed):
    import cv2

    blue = tmp_path / "blue.png"
    cv2.imwrite(str(blue), np.full((20, 30, 3), (200, 60, 20), np.uint8))  # BGR: a blue picture
    direction = write(tmp_path / "d.toml", f"""
        shots = 3
        frames = 36
        [[shot]]
        number = 1
        grey = true
        [[shot]]
        number = 2
        keep = false   # coloured although it is in colour
        reference = "{blue.name}"
        [[shot]]
        number = 3
        hints = [{{ x = 0.6, y = 0.5, color = "#d01010" }}]
    """)
    out = remaster(mixed, tmp_path / "out.mp4", RemasterOptions.of(**OPTIONS), colorizer=ToyColorizer(),
                   direction=direction)
    plain = remaster(mixed, tmp_path / "plain.mp4", RemasterOptions.of(**OPTIONS, recolor_all=True),
                     colorizer=ToyColorizer())
    assert out.kept_shots == [] and plain.kept_shots == []
    directed, undirected = chroma(out.output), chroma(plain.output)
    assert all((u == 128).all() and (v == 128).all() for u, v in directed[:12])  # grey
    # the blue reference: more blue (U above neutral) than the undirected colours of the same frames
    assert np.mean([u.mean() for u, _ in directed[12:24]]) > np.mean([u.mean() for u, _ in undirected[12:24]]) + 10
    # the red hint: V up near it (shot 3's first frame, x = 0.6 of 96 px), nothing far from it
    (_, v), (_, v0) = directed[24], undirected[24]
    assert (v - v0)[14:18, 27:31].mean() > 20 and np.abs(v - v0)[:, :18].mean() < 0.5
    # it follows the picture: the rocket pans left 2 px a frame, so on key frame 32 the hint is 16 px left
    (_, v_later), (_, v0_later) = directed[32], undirected[32]
    centre = lambda pull: (pull * np.arange(len(pull))).sum() / pull.sum()  # of a pull per chroma column (2 px)
    moved = centre(np.clip((v - v0).mean(axis=0), 0, None)) - centre(np.clip((v_later - v0_later).mean(axis=0), 0, None))
    assert moved == pytest.approx(8, abs=1.5)


BAD = [
    ("shots = 3\n[[shot]]\nnumber = 9\ngrey = true\n", "shot 9: no such shot (the film has 3 shots"),
    ('shots = 3\n[[shot]]\nnumber = 2\nreference = "gone.jpg"\n', "shot 2: reference"),
    ('shots = 3\n[[shot]]\nnumber = 3\nhints = [{ x = 0.5, y = 0.5, color = "navy" }]\n',
     "shot 3: hint 1: color 'navy': not a colour of the form #rrggbb"),
    ('shots = 3\n[[shot]]\nnumber = 3\nhints = [{ x = 1.5, y = 0.5, color = "#ffffff" }]\n', "shot 3: hint 1: x = 1.5"),
    ("shots = 3\n[[shot]]\nnumber = 1\nkeep = true\ngrey = true\n", "shot 1: keep and grey both set"),
    ('shots = 3\n[[shot]]\nnumber = 1\nrefrence = "a.jpg"\n', "shot 1: unknown setting 'refrence'"),
    ("strength = 9\n", "the film: strength = 9: must be a number from 0 to 4"),
    ("shots = 3\n[[shot]]\nnumber = 1\n[[shot]]\nnumber = 1\n", "shot 1: listed twice"),
    ("frames = 99\n", "made for a film of 99 frames"),
    ("shots = [3\n", "not a TOML direction file"),
]


def test_each_bad_direction_entry_is_one_line_before_any_work(tmp_path, mixed):
    """Through the command line, with no TensorFlow, no model and no output."""
    cases = []
    for k, (text, message) in enumerate(BAD):
        path = write(tmp_path / f"bad{k}.toml", text)
        cases.append(["remaster", str(mixed), "-o", str(tmp_path / "out.mp4"), "--direction", str(path)])
    cases.append(["colorize", str(mixed), "--hint", "0.3,0.4=#1f3a9"])
    cases.append(["colorize", str(mixed), "--hint", "0.3=#1f3a93"])
    cases.append(["colorize", str(mixed), "--reference", str(tmp_path / "gone.jpg")])
    code = ("import json, sys; from typer.testing import CliRunner; from vidcolor.cli import app\n"
            "for args in json.loads(sys.argv[1]):\n"
            "    r = CliRunner().invoke(app, args)\n"
            "    heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
            "    print(json.dumps([r.exit_code, r.output, heavy]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True, check=True)
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    messages = [m for _, m in BAD] + ["--hint 0.3,0.4=#1f3a9: color '#1f3a9'", "--hint 0.3=#1f3a93: expected X,Y=#RRGGBB",
                                      "--reference"]
    for (exit_code, output, heavy), message, args in zip(answers, messages, cases):
        assert exit_code == 2 and heavy == [], (args, output)
        assert message in output and len(output.strip().splitlines()) == 1, (message, output)
        if "--direction" in args:
            assert args[-1] in output or "bad" in output  # names the file
    assert not (tmp_path / "out.mp4").exists()


def test_a_shot_listed_at_another_frame_is_refused_before_any_colouring(tmp_path, mixed, monkeypatch):
    # shot 3 is listed at frame 20 and found at 24: refused once the scan has found it, before the model
    # colours a frame or a segment is written (4 frames a segment: 6 would be done by then), nothing left behind
    path = write(tmp_path / "d.toml", "shots = 3\n[[shot]]\nnumber = 3\nfirst_frame = 20\ngrey = true\n")
    out, colorizer = tmp_path / "out.mp4", ToyColorizer()
    options = RemasterOptions.of(**OPTIONS, segment_frames=4, key_interval=1, recolor_all=True)
    with pytest.raises(InputError) as refused:
        remaster(mixed, out, options, colorizer=colorizer, direction=path)
    assert str(refused.value) == (f"{path}: shot 3 starts at frame 24 of the film, not at 20: the file lists "
                                  "another cut of it (`vidcolor shots` again)")
    assert colorizer.calls == 0 and not out.exists() and not parts_folder(out).exists()
    four = write(tmp_path / "four.toml", "shots = 4\n[[shot]]\nnumber = 4\nfirst_frame = 30\ngrey = true\n")
    with pytest.raises(InputError, match="shot 4 starts at frame 30 in the file, and the film has 3 shots"):
        remaster(mixed, out, options, colorizer=colorizer, direction=four)
    assert colorizer.calls == 0 and not parts_folder(out).exists()
    install({"segment_frames": 4}, monkeypatch)  # the command: one line, the input-error exit code
    result = runner.invoke(app, ["remaster", str(mixed), "-o", str(out), "-d", str(path), "-q", "--key-interval", "1"])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [f"vidcolor: {refused.value}"], result.output
    assert not out.exists() and not parts_folder(out).exists()
    assert parse_hint("0.3,0.4=#1F3A93").color == "#1f3a93"


class Stopping(ToyColorizer):
    def __init__(self, stop_at=None):
        super().__init__()
        self.stop_at = stop_at

    def predict_ab(self, light, embedding, hints=None, prior=None):
        if self.calls + 1 == self.stop_at:
            raise RuntimeError("model exploded")
        return super().predict_ab(light, embedding, hints, prior)


def test_a_changed_direction_starts_a_resumed_film_over(tmp_path, mixed):
    # every frame a key frame, two to a model call: call 17 colours frames 32 and 33
    options = RemasterOptions.of(**OPTIONS, segment_frames=4, recolor_all=True, key_interval=1)
    direction = write(tmp_path / "d.toml", "shots = 3\n[[shot]]\nnumber = 3\ngrey = true\n")
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        remaster(mixed, out, options, colorizer=Stopping(stop_at=9), direction=direction)
    assert (parts_folder(out) / "segment-000000.json").exists()
    warnings = []
    write(direction, "shots = 3\n[[shot]]\nnumber = 3\nhints = [{ x = 0.6, y = 0.5, color = \"#00ff00\" }]\n")
    result = remaster(mixed, out, options, colorizer=ToyColorizer(), direction=direction, resume=True,
                      on_warning=warnings.append)
    assert result.resumed_frames == 0
    assert len(warnings) == 1 and "starting over" in warnings[0] and "direction" in warnings[0]
    # the same direction again: the run goes on from its segments, inside the hinted shot 3 (frames 24-35)
    with pytest.raises(RuntimeError):
        remaster(mixed, out, options.replace(force=True), colorizer=Stopping(stop_at=17), direction=direction)
    again = remaster(mixed, out, options.replace(force=True), colorizer=ToyColorizer(), direction=direction,
                     resume=True)
    assert again.resumed_frames == 28
    whole = remaster(mixed, tmp_path / "whole.mp4", options, colorizer=ToyColorizer(), direction=direction)
    for a, b in zip(chroma(again.output), chroma(whole.output)):  # the hint was followed from frame 24 alike
        np.testing.assert_array_equal(a[1], b[1])


def test_colorize_takes_a_reference_and_hints(tmp_path, monkeypatch):
    import cv2

    install({}, monkeypatch)
    photo, blue = tmp_path / "photo.png", tmp_path / "blue.png"
    cv2.imwrite(str(photo), np.tile(np.arange(96, dtype=np.uint8)[None, :] * 2, (64, 1)))
    cv2.imwrite(str(blue), np.full((20, 30, 3), (200, 60, 20), np.uint8))
    plain = runner.invoke(app, ["colorize", str(photo), "-o", str(tmp_path / "plain"), "-q"])
    directed = runner.invoke(app, ["colorize", str(photo), "-o", str(tmp_path / "directed"), "-q", "--reference",
                                   str(blue), "--hint", "0.8,0.5=#10d010", "--hint", "0.1,0.1=#d01010"])
    assert plain.exit_code == 0 and directed.exit_code == 0, directed.output
    before = cv2.imread(str(tmp_path / "plain" / "photo_color.png")).astype(int)
    after = cv2.imread(str(tmp_path / "directed" / "photo_color.png")).astype(int)
    assert after[..., 0].mean() > before[..., 0].mean() + 10  # bluer
    assert after[32, 77, 1] > before[32, 77, 1] + 20  # greener at the green hint


def test_colorize_reads_its_reference_once_for_all_its_pictures(tmp_path, monkeypatch):
    import cv2

    import vidcolor.model.palette
    from vidcolor.stills import colorize_image

    photos, blue = tmp_path / "photos", tmp_path / "blue.png"
    photos.mkdir()
    for k in range(3):
        cv2.imwrite(str(photos / f"p{k}.png"), np.tile(np.arange(96, dtype=np.uint8)[None, :] * (k + 1), (64, 1)))
    cv2.imwrite(str(blue), np.full((20, 30, 3), (200, 60, 20), np.uint8))
    singly = [colorize_image(p, tmp_path / f"{p.stem}_color.png", colorizer=ToyColorizer(), reference=blue,
                             strength=2.0).output for p in sorted(photos.iterdir())]
    read, prior = vidcolor.model.palette.read_image, vidcolor.model.palette.palette_prior
    reads, priors = [], []
    monkeypatch.setattr(vidcolor.model.palette, "read_image", lambda path, *a, **k: reads.append(path) or read(path, *a, **k))
    monkeypatch.setattr(vidcolor.model.palette, "palette_prior", lambda *a, **k: priors.append(1) or prior(*a, **k))
    install({}, monkeypatch)
    result = runner.invoke(app, ["colorize", str(photos), "-o", str(tmp_path / "out"), "-q", "-r", str(blue),
                                 "--strength", "2"])
    assert result.exit_code == 0, result.output
    assert [Path(p) for p in reads] == [blue] and len(priors) == 1  # not once per picture
    for alone in singly:  # the same pictures as each coloured on its own
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out" / alone.name)), cv2.imread(str(alone)))
    (tmp_path / "notes.png").write_text("not a picture")
    broken = runner.invoke(app, ["colorize", str(photos), "-o", str(tmp_path / "none"), "-r", str(tmp_path / "notes.png")])
    assert broken.exit_code == 2 and broken.output.strip().splitlines() == [
        f"vidcolor: {tmp_path / 'notes.png'}: not a readable image"], broken.output  # once, before any picture
    assert not (tmp_path / "none").exists()


def test_a_batch_row_tells_which_shots_were_kept_also_for_a_film_in_pieces(tmp_path, mixed, monkeypatch):
    from vidcolor.batch.archive import BatchItem, BatchJob
    from vidcolor.batch.manifest import read_manifest
    from vidcolor.batch.pieces import SplitFilm, color_piece, scan_film

    install({}, monkeypatch)
    src = tmp_path / "src"
    src.mkdir()
    (src / "film.mp4").write_bytes(mixed.read_bytes())
    result = runner.invoke(app, ["batch", str(src), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    said = "shot 2: in colour already, left as it was (--recolor-all colours them too)"
    assert read_manifest(tmp_path / "out" / "vidcolor-manifest.jsonl")["film.mp4"]["warnings"] == [
        f"{src / 'film.mp4'}: {said}"]

    job = BatchJob(src, tmp_path / "split", RemasterOptions.of(segment_frames=8, **OPTIONS))
    item, colorizer = BatchItem("film.mp4", "film_color.mp4", "video", "color"), ToyColorizer()
    film = SplitFilm(item, job, 16)
    film.claim()
    try:
        for piece in film.pieces(scan_film(item, job, colorizer, warn=film.warn)):
            film.finished(piece, color_piece(item, job, piece, film.format_name, colorizer, warn=film.warn))
        film.join()
    finally:
        film.release()
    assert film.result().warnings == (f"{src / 'film.mp4'}: {said}",)
