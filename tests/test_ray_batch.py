"""`vidcolor batch --ray`: on a local Ray instance with 2 CPUs (2 workers), the same outputs and
manifest as the local batch; one film in pieces on both workers; a killed worker (slow)."""

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import toy_colorizer
from clips import audio_packets, make_clip
from typer.testing import CliRunner

from vidcolor.batch.archive import MANIFEST_NAME, BatchItem, BatchJob, LocalExecutor, run_batch
from vidcolor.cli import app
from vidcolor.errors import InputError, ModelError, OutputError
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.batch.ray_executor import RayExecutor
from vidcolor.batch.ray_worker import storage_problem

OPTIONS = RemasterOptions.of(segment_frames=8)  # the toy: 8 frames a chunk, so a segment
GREY = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (it takes seconds to start); its workers import the
    toy colorizer from this folder."""
    import ray

    with pytest.MonkeyPatch.context() as patch:
        path = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def on_ray(**settings):
    return RayExecutor(worker_cpus=1, split_frames=settings.pop("split_frames", 8),
                       load=functools.partial(toy_colorizer.load, **settings))


def video_packets(path):
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts, p.dts) for p in c.demux(video=0) if p.size]


def manifest_rows(out, last=0):
    """The manifest's rows (its `last` ones) without their times, in a fixed order."""
    rows = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()[-last:]]
    return sorted(({k: v for k, v in row.items() if k != "seconds"} for row in rows), key=json.dumps)


def test_a_batch_on_ray_workers_equals_the_local_batch(tmp_path, local_ray):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    make_clip(src / "a.mp4", frames=12, audio="aac")
    make_clip(src / "sub" / "b.mkv", frames=40)  # longer than two pieces of 8 frames: in pieces
    cv2.imwrite(str(src / "sub" / "still.png"), GREY)
    whole = make_clip(src / "broken.mp4", frames=12).read_bytes()
    (src / "broken.mp4").write_bytes(whole[: len(whole) // 2])
    (src / "readme.txt").write_text("shot list\n")

    local = run_batch(src, tmp_path / "local", OPTIONS, executor=LocalExecutor(toy_colorizer.load()), progress=False)
    executor = on_ray()
    spread = run_batch(src, tmp_path / "ray", OPTIONS, executor=executor, progress=False)
    assert executor.workers_started == 2
    assert manifest_rows(tmp_path / "ray") == manifest_rows(tmp_path / "local")
    assert [(r.source, r.status, r.frames) for r in spread.rows] == [
        ("a.mp4", "done", 12), ("broken.mp4", "failed", None), ("readme.txt", "skipped", None),
        ("sub/b.mkv", "done", 40), ("sub/still.png", "done", None)]
    assert [(r.source, r.status, r.frames, r.error) for r in spread.rows] == [
        (r.source, r.status, r.frames, r.error) for r in local.rows]
    for film in ("a_color.mp4", "sub/b_color.mkv"):
        assert video_packets(tmp_path / "ray" / film) == video_packets(tmp_path / "local" / film)
    assert audio_packets(tmp_path / "ray" / "a_color.mp4") == audio_packets(tmp_path / "local" / "a_color.mp4")
    still = "sub/still_color.png"
    assert (tmp_path / "ray" / still).read_bytes() == (tmp_path / "local" / still).read_bytes()
    assert not list((tmp_path / "ray").rglob(".*"))  # no side folders, locks or storage checks left

    # Rerun: as the local batch, only the broken film is tried (and recorded) again.
    lines = (tmp_path / "ray" / MANIFEST_NAME).read_text().splitlines()
    again = run_batch(src, tmp_path / "ray", OPTIONS, executor=on_ray(), progress=False)
    assert again.counts == {"done": 0, "skipped": 4, "failed": 1}
    added = (tmp_path / "ray" / MANIFEST_NAME).read_text().splitlines()[len(lines):]
    assert [json.loads(line)["source"] for line in added] == ["broken.mp4"]


def test_a_film_split_across_two_workers_equals_its_one_process_remaster(tmp_path, local_ray):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    make_clip(src / "film.mp4", frames=44, audio="aac")
    whole = remaster(src / "film.mp4", tmp_path / "whole.mp4", OPTIONS.replace(progress=False),
                     colorizer=toy_colorizer.load()).output
    # pieces of 16 frames: 3 pieces, the first two at once on the two workers
    summary = run_batch(src, out, OPTIONS, executor=on_ray(split_frames=16), progress=False)
    assert [(r.source, r.status, r.frames) for r in summary.rows] == [("film.mp4", "done", 44)]
    assert video_packets(out / "film_color.mp4") == video_packets(whole)
    assert audio_packets(out / "film_color.mp4") == audio_packets(src / "film.mp4")
    assert sorted(p.name for p in out.iterdir()) == ["film_color.mp4", MANIFEST_NAME]


def test_a_model_that_cannot_load_stops_the_batch(tmp_path, local_ray):
    src = tmp_path / "src"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), GREY)
    options = OPTIONS.replace(weights=tmp_path / "none.weights.h5")
    with pytest.raises(ModelError, match="no weights file found"):
        run_batch(src, tmp_path / "out", options, executor=RayExecutor(worker_cpus=1), progress=False)
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


def test_workers_that_cannot_see_the_folders_stop_the_batch_with_one_line(tmp_path, local_ray):
    job = BatchJob(tmp_path / "not-shared", tmp_path / "out", OPTIONS)  # as a node without the share sees it
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError) as stopped:
        on_ray().run([BatchItem("a.png", "a_color.png", "still", "color")], job, lambda result: pytest.fail("ran"))
    assert re.fullmatch(rf"the Ray worker on {re.escape(socket.gethostname())} \(pid \d+\) cannot see "
                        rf"{re.escape(str(job.src_dir))}: --ray needs every node to see SRC_DIR and OUT_DIR at the "
                        r"same paths \(shared storage\)", str(stopped.value))
    assert list((tmp_path / "out").iterdir()) == []  # the driver's check file is gone


def test_a_worker_that_cannot_see_the_folders_says_so(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "a.png").write_bytes(b"")
    (out / ".token").write_text("secret")
    assert storage_problem(src, out, ".token", "secret", "a.png") is None
    assert list(out.iterdir()) == [out / ".token"]
    problem = storage_problem(tmp_path / "elsewhere", out, ".token", "secret", "a.png")
    assert isinstance(problem, InputError) and str(problem) == f"cannot see {tmp_path / 'elsewhere'}"
    assert str(storage_problem(src, out, ".token", "secret", "b.png")) == f"cannot see {src / 'b.png'}"
    problem = storage_problem(src, out, ".token", "another driver's", "a.png")
    assert isinstance(problem, OutputError) and "cannot see the file the driver left in" in str(problem)


def test_ray_is_asked_for_with_one_line_when_it_is_missing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), GREY)
    script = ("import sys; sys.modules['ray'] = None; from vidcolor.cli import run; "
              "sys.argv = ['vidcolor', 'batch', sys.argv[1], '-o', sys.argv[2], '--ray']; run()")
    done = subprocess.run([sys.executable, "-c", script, str(src), str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == 'vidcolor: --ray needs Ray, which is not installed: pip install "vidcolor[ray]"'
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(app, ["batch", str(src), "-o", str(tmp_path / "out"), "--split-frames", "10"])
    assert result.exit_code == 2 and "go with --ray" in result.output


@pytest.mark.slow
def test_a_killed_worker_loses_only_its_unit(tmp_path, local_ray):
    src, lone = tmp_path / "src", tmp_path / "lone"
    src.mkdir()
    lone.mkdir()
    for name in "abcd":
        make_clip(src / f"{name}.mp4", frames=24, audio="aac")
    make_clip(lone / "long.mp4", frames=64, audio="aac")  # in pieces of 16 frames
    local = tmp_path / "local"
    run_batch(src, local, OPTIONS, executor=LocalExecutor(toy_colorizer.load()), progress=False)
    run_batch(lone, local, OPTIONS, executor=LocalExecutor(toy_colorizer.load()), progress=False)
    marker, killed = tmp_path / "paused", []

    def kill_the_paused_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            try:
                killed.append(int(marker.read_text()))
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            os.kill(killed[0], signal.SIGKILL)

    # A worker killed in its third model call: of a whole film, then of a piece of the long one
    # (the second time with --force, which must not throw away what the lost worker had finished).
    for folder, force, names in ((src, False, "abcd"), (lone, True, ["long"])):
        marker.unlink(missing_ok=True)
        killed.clear()
        killer = threading.Thread(target=kill_the_paused_worker)
        killer.start()
        executor = on_ray(split_frames=16, pause_at=3, marker=str(marker), pause_once=True)
        summary = run_batch(folder, tmp_path / "out", OPTIONS.replace(force=force), executor=executor, progress=False)
        killer.join()
        assert killed, "no worker paused"
        assert summary.counts == {"done": len(names), "skipped": 0, "failed": 0}
        rows = manifest_rows(tmp_path / "out", last=len(names))
        assert rows == [r for r in manifest_rows(local) if r["source"].split(".")[0] in names]  # each once, no warning
        for name in names:
            assert video_packets(tmp_path / "out" / f"{name}_color.mp4") == video_packets(local / f"{name}_color.mp4")
