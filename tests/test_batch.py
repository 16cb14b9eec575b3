"""`vidcolor batch`: a folder tree in, coloured tree + manifest out; resumable, one bad file costs only itself."""

import json
import os

import cv2
import numpy as np
import pytest
from clips import make_clip, read_video
from typer.testing import CliRunner

from vidcolor.batch import MANIFEST_NAME, format_summary, run_batch
from vidcolor.pipeline import RemasterOptions
from vidcolor.cli import app

runner = CliRunner()
GREY = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))


def make_tree(src):
    (src / "sub").mkdir(parents=True)
    make_clip(src / "a.mp4", frames=8, audio="aac")
    make_clip(src / "sub" / "b.mkv", frames=10)
    cv2.imwrite(str(src / "sub" / "still.png"), GREY)
    (src / "photo_without_ext").write_bytes(cv2.imencode(".jpg", GREY)[1].tobytes())
    whole = make_clip(src / "broken.mp4", frames=12).read_bytes()
    (src / "broken.mp4").write_bytes(whole[: len(whole) // 2])
    (src / "readme.txt").write_text("shot list, reel 3\n")
    return src


def batch(src, out, weights, *extra):
    return runner.invoke(app, ["batch", str(src), "-o", str(out), "--weights", str(weights), "--render-size", "32",
                               "-q", *extra])


def latest_rows(out):
    rows = {}
    for line in (out / MANIFEST_NAME).read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        rows[row["source"]] = row
    return rows


def age(paths):
    """Set mtimes an hour back, so a rewrite is visible whatever the file system's clock resolution."""
    for path in paths:
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime - 3600))
    return {path: path.stat().st_mtime_ns for path in paths}


def test_batch_colours_a_tree_records_it_and_resumes(tmp_path, random_weights):
    src, out = make_tree(tmp_path / "src"), tmp_path / "out"
    result = batch(src, out, random_weights)
    assert result.exit_code == 1, result.output
    outputs = [out / "a_color.mp4", out / "sub" / "b_color.mkv", out / "sub" / "still_color.png",
               out / "photo_without_ext_color.png"]
    assert all(p.is_file() for p in outputs)
    assert len(read_video(out / "a_color.mp4")) == 8 and len(read_video(out / "sub" / "b_color.mkv")) == 10
    assert cv2.imread(str(out / "photo_without_ext_color.png")).shape == (48, 64, 3)
    assert not (out / "broken_color.mp4").exists() and not list(out.rglob(".*partial*"))

    rows = latest_rows(out)
    assert {s: (r["kind"], r["status"]) for s, r in rows.items()} == {
        "a.mp4": ("video", "done"), "sub/b.mkv": ("video", "done"), "sub/still.png": ("still", "done"),
        "photo_without_ext": ("still", "done"), "broken.mp4": ("video", "failed"), "readme.txt": ("other", "skipped")}
    assert rows["a.mp4"]["frames"] == 8 and rows["sub/b.mkv"]["frames"] == 10
    assert rows["sub/b.mkv"]["output"] == "sub/b_color.mkv" and rows["a.mp4"]["seconds"] > 0
    assert "broken.mp4" in rows["broken.mp4"]["error"] and "\n" not in rows["broken.mp4"]["error"]
    assert rows["readme.txt"]["error"] == "not an image or video"
    assert "done" in result.output and "failed" in result.output and "18 frames" in result.output
    lines = (out / MANIFEST_NAME).read_text().splitlines()

    # Rerun: done files untouched, the broken one retried, nothing new recorded for the text file.
    stamps = age(outputs)
    again = batch(src, out, random_weights)
    assert again.exit_code == 1, again.output
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps
    new_lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()[len(lines):]]
    assert [(r["source"], r["status"]) for r in new_lines] == [("broken.mp4", "failed")]
    assert "already done" not in again.output and "broken.mp4" in again.output

    # --force redoes everything, overwriting.
    forced = batch(src, out, random_weights, "--force")
    assert forced.exit_code == 1, forced.output
    assert all(p.stat().st_mtime_ns != stamps[p] for p in outputs)

    # The broken film replaced by a good one: done, exit code 0.
    make_clip(src / "broken.mp4", frames=12)
    fixed = batch(src, out, random_weights)
    assert fixed.exit_code == 0, fixed.output
    row = latest_rows(out)["broken.mp4"]
    assert (row["status"], row["frames"], row["error"]) == ("done", 12, None)
    assert len(read_video(out / "broken_color.mp4")) == 12


def test_someone_elses_output_is_not_overwritten_without_force(tmp_path, random_weights):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "reel").mkdir(parents=True)
    make_clip(src / "reel" / "film.mkv", frames=8)
    cv2.imwrite(str(src / "photo.jpg"), GREY)
    (out / "reel").mkdir(parents=True)
    (out / "reel" / "film_color.mkv").write_bytes(b"their work")
    (out / "photo_color.jpg").write_bytes(b"their photo")

    result = batch(src, out, random_weights)
    assert result.exit_code == 1
    assert (out / "reel" / "film_color.mkv").read_bytes() == b"their work"
    assert (out / "photo_color.jpg").read_bytes() == b"their photo"
    rows = latest_rows(out)
    assert all(r["status"] == "failed" and "already exists (use --force" in r["error"] for r in rows.values())

    result = batch(src, out, random_weights, "--force")
    assert result.exit_code == 0, result.output
    assert len(read_video(out / "reel" / "film_color.mkv")) == 8
    assert cv2.imread(str(out / "photo_color.jpg")) is not None


def test_output_folder_inside_the_source_is_not_walked(tmp_path, random_weights):
    src = tmp_path / "src"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), GREY)
    options = RemasterOptions(weights=random_weights, render_size=32)
    first = run_batch(src, src / "coloured", options, progress=False)
    assert first.counts == {"done": 1, "skipped": 0, "failed": 0}
    second = run_batch(src, src / "coloured", options, progress=False)
    assert [(r.source, r.status, r.error) for r in second.rows] == [("a.png", "skipped", "already done")]
    assert sorted(p.name for p in (src / "coloured").iterdir()) == ["a_color.png", MANIFEST_NAME]
    assert "skipped       1" in format_summary(second)
    with pytest.raises(Exception, match="must not be the source folder"):
        run_batch(src, src, options, progress=False)


def test_outputs_of_a_previous_batch_in_the_source_are_not_coloured_again(tmp_path, random_weights):
    # OUT_DIR is the parent of SRC_DIR, so an output can land inside SRC_DIR: it must not become an input.
    out = tmp_path / "archive"
    src = out / "incoming"
    (src / "incoming").mkdir(parents=True)
    cv2.imwrite(str(src / "incoming" / "a.png"), GREY)
    options = RemasterOptions(weights=random_weights, render_size=32)
    assert run_batch(src, out, options, progress=False).counts["done"] == 1
    assert (src / "a_color.png").is_file()
    again = run_batch(src, out, options, progress=False)
    assert [(r.source, r.status) for r in again.rows] == [("incoming/a.png", "skipped")]
    assert not list(out.rglob("*_color_color*"))


def test_ctrl_c_stops_cleanly_and_the_manifest_keeps_what_finished(tmp_path, random_weights, monkeypatch):
    import vidcolor.batch

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), GREY)
    make_clip(src / "b.mp4", frames=8)
    cv2.imwrite(str(src / "c.png"), GREY)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vidcolor.batch, "remaster", interrupted)
    result = batch(src, out, random_weights)
    assert result.exit_code == 130 and "interrupted" in result.output and MANIFEST_NAME in result.output
    assert {s: r["status"] for s, r in latest_rows(out).items()} == {"a.png": "done"}
    assert not (out / "c_color.png").exists()

    monkeypatch.undo()
    with open(out / MANIFEST_NAME, "a") as manifest:  # as if the process had died while writing a row
        manifest.write('{"source": "c.png", "sta')
    resumed = batch(src, out, random_weights)
    assert resumed.exit_code == 0, resumed.output
    assert {s: r["status"] for s, r in latest_rows(out).items()} == {"a.png": "done", "b.mp4": "done", "c.png": "done"}


def test_missing_source_folder_and_missing_weights_stop_at_once(tmp_path):
    result = runner.invoke(app, ["batch", str(tmp_path / "nope"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "nope: no such folder" in result.output
    src = tmp_path / "src"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), GREY)
    cv2.imwrite(str(src / "b.png"), GREY)
    result = runner.invoke(app, ["batch", str(src), "-o", str(tmp_path / "out"), "-q",
                                 "--weights", str(tmp_path / "none.weights.h5")])
    assert result.exit_code == 4 and "no weights file found" in result.output
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()
