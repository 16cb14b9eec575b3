"""`vidcolor batch`: a folder tree in, coloured tree + manifest out; resumable, one bad file costs only itself."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from clips import make_clip, read_video
from typer.testing import CliRunner

from vidcolor.batch.archive import MANIFEST_NAME, color_item, format_summary, run_batch
from vidcolor.errors import OutputError
from vidcolor.options import RemasterOptions
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


def test_batch_colors_a_tree_records_it_and_resumes(tmp_path, random_weights):
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
    options = RemasterOptions.of(weights=random_weights, render_size=32)
    first = run_batch(src, src / "coloured", options, progress=False)
    assert first.counts == {"done": 1, "skipped": 0, "failed": 0}
    second = run_batch(src, src / "coloured", options, progress=False)
    assert [(r.source, r.status, r.error) for r in second.rows] == [("a.png", "skipped", "already done")]
    assert sorted(p.name for p in (src / "coloured").iterdir()) == ["a_color.png", MANIFEST_NAME]
    assert "skipped       1" in format_summary(second)
    with pytest.raises(Exception, match="must not be the source folder"):
        run_batch(src, src, options, progress=False)


def test_outputs_of_a_previous_batch_in_the_source_are_not_colored_again(tmp_path, random_weights):
    # OUT_DIR is the parent of SRC_DIR, so an output can land inside SRC_DIR: it must not become an input.
    out = tmp_path / "archive"
    src = out / "incoming"
    (src / "incoming").mkdir(parents=True)
    cv2.imwrite(str(src / "incoming" / "a.png"), GREY)
    options = RemasterOptions.of(weights=random_weights, render_size=32)
    assert run_batch(src, out, options, progress=False).counts["done"] == 1
    assert (src / "a_color.png").is_file()
    again = run_batch(src, out, options, progress=False)
    assert [(r.source, r.status) for r in again.rows] == [("incoming/a.png", "skipped")]
    assert not list(out.rglob("*_color_color*"))


def test_ctrl_c_stops_cleanly_and_the_manifest_keeps_what_finished(tmp_path, random_weights, monkeypatch):
    import vidcolor.batch.archive

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), GREY)
    make_clip(src / "b.mp4", frames=8)
    cv2.imwrite(str(src / "c.png"), GREY)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vidcolor.batch.archive, "remaster", interrupted)
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


def test_plan_lists_the_work_without_loading_tensorflow(tmp_path):
    src, out = make_tree(tmp_path / "src"), tmp_path / "out"
    make_clip(src / "c.ts", frames=4)  # a container the writer cannot fill: the output becomes .mkv
    (src / "photo").write_bytes(cv2.imencode(".jpg", GREY)[1].tobytes())
    cv2.imwrite(str(src / "photo.png"), GREY)  # photo_color.png is "photo"'s: this one gets another name
    cv2.imwrite(str(src / "done.png"), GREY)
    cv2.imwrite(str(src / "gone.png"), GREY)
    (src / ".DS_Store").write_bytes(b"hidden")
    out.mkdir()
    (out / "done_color.png").write_bytes(b"made earlier")
    (out / MANIFEST_NAME).write_text(  # rows from before the warnings field, and one cut short by a crash
        '{"source": "done.png", "output": "done_color.png", "kind": "still", "status": "done"}\n'
        '{"source": "gone.png", "output": "gone_color.png", "kind": "still", "status": "done"}\n'
        '{"source": "readme.txt", "output": null, "kind": "other", "sta')
    script = (
        "import json, sys\n"
        "from vidcolor.batch.archive import plan_batch\n"
        "from vidcolor.options import RemasterOptions\n"
        "for force in (False, True):\n"
        "    plan = plan_batch(sys.argv[1], sys.argv[2], RemasterOptions.of(force=force, progress=False))\n"
        "    print(json.dumps([[i.source, i.output, i.kind, i.action, i.reason] for i in plan.items]))\n"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script, str(src), str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    plain, forced, heavy = map(json.loads, done.stdout.splitlines())
    assert heavy == []
    assert plain == [
        ["a.mp4", "a_color.mp4", "video", "color", None],
        ["broken.mp4", "broken_color.mp4", "video", "color", None],  # damaged: remaster will say why
        ["c.ts", "c_color.mkv", "video", "color", None],
        ["done.png", "done_color.png", "still", "skip", "already done"],
        ["gone.png", "gone_color.png", "still", "color", None],  # done, but its output is gone
        ["photo", "photo_color.png", "still", "color", None],
        ["photo.png", "photo.png_color.png", "still", "color", None],
        ["photo_without_ext", "photo_without_ext_color.png", "still", "color", None],
        ["readme.txt", None, "other", "skip", "not an image or video"],
        ["sub/b.mkv", "sub/b_color.mkv", "video", "color", None],
        ["sub/still.png", "sub/still_color.png", "still", "color", None]]
    assert forced[3] == ["done.png", "done_color.png", "still", "redo", None]
    assert forced[:3] + forced[4:] == plain[:3] + plain[4:]
    assert sorted(p.name for p in out.iterdir()) == ["done_color.png", MANIFEST_NAME]  # the plan wrote nothing


def test_a_plan_settles_output_name_clashes_up_front(tmp_path):
    from vidcolor.batch.archive import plan_batch
    from vidcolor.options import RemasterOptions

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("photo", "photo.png", "photo.tif"):
        (src / name).write_bytes(cv2.imencode(".png", GREY)[1].tobytes())
    out.mkdir()  # "photo.png" was done earlier, so its name is taken before the walk reaches "photo"
    (out / "photo_color.png").write_bytes(b"made earlier")
    (out / MANIFEST_NAME).write_text(json.dumps({"source": "photo.png", "output": "photo_color.png",
                                                 "kind": "still", "status": "done"}) + "\n")
    plan = plan_batch(src, out, RemasterOptions.of(progress=False))
    assert [(i.source, i.output, i.action) for i in plan.items] == [
        ("photo", "photo-2_color.png", "color"),  # photo_color.png and photo_color.png (again) are taken
        ("photo.png", "photo_color.png", "skip"), ("photo.tif", "photo_color.tif", "color")]
    outputs = [i.output for i in plan.items]
    assert len(set(outputs)) == len(outputs)


class Reversed:
    """An executor that colours the items last to first (as one spread over machines may finish them)."""

    def __init__(self, colorizer):
        self.colorizer, self.order = colorizer, []

    def run(self, items, job, report):
        for item in reversed(items):
            self.order.append(item.source)
            report(color_item(item, job, self.colorizer))


def test_an_executor_may_run_items_in_any_order_and_the_manifest_is_the_same(tmp_path, random_weights):
    from vidcolor.model import load_colorizer

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    make_clip(src / "a.mp4", frames=6)
    cv2.imwrite(str(src / "sub" / "still.png"), GREY)
    (src / "photo").write_bytes(cv2.imencode(".jpg", GREY)[1].tobytes())
    cv2.imwrite(str(src / "photo.png"), GREY)
    whole = make_clip(src / "broken.mp4", frames=6).read_bytes()
    (src / "broken.mp4").write_bytes(whole[: len(whole) // 2])
    (src / "readme.txt").write_text("shot list\n")
    options = RemasterOptions.of(weights=random_weights, render_size=32)
    colorizer = load_colorizer(random_weights)

    default = run_batch(src, tmp_path / "one", options, colorizer=colorizer, progress=False)
    executor = Reversed(colorizer)
    reversed_ = run_batch(src, tmp_path / "two", options, executor=executor, progress=False)
    assert executor.order == ["sub/still.png", "photo.png", "photo", "broken.mp4", "a.mp4"]

    def lines(out):
        rows = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    one, two = lines(tmp_path / "one"), lines(tmp_path / "two")
    assert sorted(one, key=json.dumps) == sorted(two, key=json.dumps) and len(one) == 6
    assert [r["source"] for r in two] == ["readme.txt", *executor.order]  # recorded as they finished
    assert {r["source"]: (r["output"], r["status"]) for r in one} == {
        "a.mp4": ("a_color.mp4", "done"), "broken.mp4": ("broken_color.mp4", "failed"),
        "photo": ("photo_color.png", "done"), "photo.png": ("photo.png_color.png", "done"),
        "readme.txt": (None, "skipped"), "sub/still.png": ("sub/still_color.png", "done")}
    assert [(r.source, r.status) for r in default.rows] == [(r.source, r.status) for r in reversed_.rows]
    def text(summary):  # without the lines that have times in them
        return [line for line in format_summary(summary).splitlines()[1:-1] if "frames/s" not in line]

    assert text(default) == text(reversed_)


def test_warnings_of_a_still_land_in_its_manifest_row(tmp_path):
    from toy_colorizer import ToyColorizer

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    encoded = bytearray(cv2.imencode(".jpg", GREY)[1].tobytes())
    encoded[len(encoded) // 2 : len(encoded) // 2 + 12] = b"\xff\x00" * 6  # damaged: read as far as it decodes
    (src / "scratched.jpg").write_bytes(bytes(encoded))
    cv2.imwrite(str(src / "clean.png"), GREY)
    summary = run_batch(src, out, RemasterOptions.of(render_size=32), colorizer=ToyColorizer(), progress=False)
    rows = latest_rows(out)
    assert (rows["scratched.jpg"]["status"], len(rows["scratched.jpg"]["warnings"])) == ("done", 1)
    told = rows["scratched.jpg"]["warnings"][0]
    assert "scratched.jpg" in told and "damaged image data" in told
    assert rows["clean.png"]["warnings"] == []
    assert f"  scratched.jpg: {told}" in format_summary(summary)


def test_warnings_of_an_item_land_in_its_manifest_row(tmp_path, monkeypatch):
    import vidcolor.batch.archive

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    make_clip(src / "a.mp4", frames=4)
    make_clip(src / "b.mp4", frames=4)
    make_clip(src / "c.mp4", frames=4)
    carried = "stream 2 (subtitle) cannot be carried into the output"

    def fake_remaster(source, target, options, *, colorizer, on_warning, resume, on_frame=None):
        on_warning(f"{source.name}: told as it happened")
        if source.name == "b.mp4":
            raise OutputError(f"{target}: disk full")
        target.write_bytes(b"film")
        said = [f"{source.name}: told as it happened"] + ([carried] if source.name == "a.mp4" else [])
        return SimpleNamespace(frames=4, warnings=said, kept_shots=[])

    monkeypatch.setattr(vidcolor.batch.archive, "remaster", fake_remaster)
    summary = run_batch(src, out, RemasterOptions(), colorizer=object(), progress=False)
    rows = latest_rows(out)
    assert rows["a.mp4"]["warnings"] == ["a.mp4: told as it happened", carried]
    assert (rows["b.mp4"]["status"], rows["b.mp4"]["warnings"]) == ("failed", ["b.mp4: told as it happened"])
    assert (rows["c.mp4"]["status"], rows["c.mp4"]["warnings"]) == ("done", ["c.mp4: told as it happened"])
    assert f"  a.mp4: {carried}" in format_summary(summary)

    # A rerun skips the done films (nothing new recorded for them) and retries the failed one.
    again = run_batch(src, out, RemasterOptions(), colorizer=object(), progress=False)
    assert [(r.source, r.status) for r in again.rows] == [("a.mp4", "skipped"), ("b.mp4", "failed"),
                                                          ("c.mp4", "skipped")]
    assert latest_rows(out)["a.mp4"]["warnings"] == ["a.mp4: told as it happened", carried]


def test_nothing_to_color_loads_no_model_and_a_lost_item_is_recorded_as_failed(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "readme.txt").write_text("notes\n")
    options = RemasterOptions.of(weights=tmp_path / "none.weights.h5")  # would stop the batch if it were loaded
    summary = run_batch(src, out, options, progress=False)
    assert [(r.source, r.status, r.error) for r in summary.rows] == [("readme.txt", "skipped", "not an image or video")]

    class Forgetful:
        def run(self, items, job, report):
            pass  # e.g. a worker that was lost without a word

    cv2.imwrite(str(src / "a.png"), GREY)
    summary = run_batch(src, out, options, executor=Forgetful(), progress=False)
    assert [(r.source, r.status) for r in summary.rows] == [("a.png", "failed"), ("readme.txt", "skipped")]
    assert "no result" in latest_rows(out)["a.png"]["error"]
    assert [json.loads(line)["source"] for line in (out / MANIFEST_NAME).read_text().splitlines()] == [
        "readme.txt", "a.png"]  # the non-media file was recorded once
