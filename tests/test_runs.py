"""Real `vidcolor` processes: two runs never write one output at once, a lock left by a killed run
blocks nothing, and SIGTERM and Ctrl-C stop a run with one line, its finished segments kept.

The runs use a colorizer without TensorFlow (toy_colorizer) that stops at a model call and waits,
so each test knows where the run is when it acts."""

import os
import signal
import subprocess
import sys
import time

import pytest
from clips import make_clip, read_video
from toy_colorizer import cli_command, install
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.outputs import lock_path
from vidcolor.film.segments import PLAN, parts_folder

# chunks of 4 frames (2 key frames each), segments of 8: a 40-frame film has 5
SETTINGS = {"segment_frames": 8}
ARGS = ["--render-size", "32", "--key-interval", "2", "-q"]


@pytest.fixture
def film(tmp_path):
    return make_clip(tmp_path / "film.mp4", size=(64, 48), frames=40, audio="aac")


def start(tmp_path, film, out, *, name="run", args=(), **settings):
    """A remaster in its own process that waits at model call 4 (segment 0 is then finished)."""
    settings = {**SETTINGS, "pause_at": 4, "marker": str(tmp_path.parent / f"{tmp_path.name}-{name}.paused"),
                "release": str(tmp_path.parent / f"{tmp_path.name}.release"), **settings}
    log = open(tmp_path.parent / f"{tmp_path.name}-{name}.log", "w+")  # noqa: SIM115 (read after the run)
    where = ("-o", out) if out is not None else ()
    process = subprocess.Popen(cli_command(settings, "remaster", film, *where, *args, *ARGS), stdout=log, stderr=log,
                               text=True)
    process.log, process.marker = log, settings["marker"]
    return process


def output_of(process) -> str:
    process.log.seek(0)
    return process.log.read()


def wait_until_paused(process, folder, timeout=120):
    deadline = time.time() + timeout
    # paused at a model call, with segment 0 finished and the first pass's shot plan saved (written
    # last, by the scan's own thread): from then on the folder stays as it is until the run goes on
    while not (os.path.exists(process.marker) and (folder / "segment-000000.json").exists()
               and (folder / PLAN).exists()):
        assert process.poll() is None, output_of(process)[-3000:]
        assert time.time() < deadline, "the run did not get to its pause in time"
        time.sleep(0.05)


def stopped(run, folder, signum=signal.SIGINT, code=130):
    """`run`, sent `signum` once paused with its first segment in `folder`, ended with `code`."""
    try:
        wait_until_paused(run, folder)
        run.send_signal(signum)
        assert run.wait(timeout=60) == code, output_of(run)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return run


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_second_run_to_the_same_output_fails_at_once_and_a_killed_runs_lock_blocks_nothing(tmp_path, film,
                                                                                            monkeypatch):
    out = tmp_path / "out.mp4"
    first = start(tmp_path, film, out)
    try:
        wait_until_paused(first, parts_folder(out))
        before = snapshot(parts_folder(out))
        # the real command, shipped model and all: it must stop before loading it
        second = subprocess.run([sys.executable, "-m", "vidcolor", "remaster", str(film), "-o", str(out), *ARGS],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 3, second.stderr
        assert error_lines(second.stderr) == [f"vidcolor: {out}: another vidcolor run (pid {first.pid}) is writing it "
                                              "now; wait for it to finish, or stop it first"]
        assert snapshot(parts_folder(out)) == before  # its segments untouched
        # the same from Python, with --force
        forced = CliRunner().invoke(app, ["remaster", str(film), "-o", str(out), "--force", *ARGS])
        assert forced.exit_code == 3 and f"pid {first.pid}" in forced.output
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert lock_path(out).exists() and not out.exists()  # kill -9 left its lock file behind

    install(SETTINGS, monkeypatch)  # this process's load_colorizer now hands out the toy colorizer
    result = CliRunner().invoke(app, ["remaster", str(film), "-o", str(out), "--resume", *ARGS])
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output and len(read_video(out)) == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "out.mp4"]  # no lock, no parts


def test_runs_started_together_one_writes_the_other_says_who(tmp_path, film):
    out = tmp_path / "out.mp4"
    runs = [start(tmp_path, film, out, name="a"), start(tmp_path, film, out, name="b")]
    try:
        deadline = time.time() + 120
        while not any(run.poll() is not None for run in runs):
            assert time.time() < deadline, [output_of(run)[-2000:] for run in runs]
            time.sleep(0.05)
        loser = next(run for run in runs if run.poll() is not None)
        winner = next(run for run in runs if run is not loser)
        assert loser.returncode == 3, output_of(loser)
        assert error_lines(output_of(loser)) == [f"vidcolor: {out}: another vidcolor run (pid {winner.pid}) is "
                                                 "writing it now; wait for it to finish, or stop it first"]
        wait_until_paused(winner, parts_folder(out))
        (tmp_path.parent / f"{tmp_path.name}.release").write_text("go")
        assert winner.wait(timeout=120) == 0, output_of(winner)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert len(read_video(out)) == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "out.mp4"]


@pytest.mark.parametrize("signum, code, message", [
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
    (signal.SIGINT, 130, "interrupted"),
])
def test_sigterm_and_ctrl_c_keep_finished_segments_with_one_line(tmp_path, film, signum, code, message):
    out = tmp_path / "out.mp4"
    run = stopped(start(tmp_path, film, out), parts_folder(out), signum, code)
    assert error_lines(output_of(run)) == [f"vidcolor: {message}; finished segments are kept in {parts_folder(out)}, "
                                           "rerun with --resume to go on"]
    # no output, no lock, no temporary file; only complete segments in the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [parts_folder(out).name, "film.mp4"]
    names = sorted(p.name for p in parts_folder(out).iterdir())
    assert "segment-000000.json" in names and not any("partial" in name for name in names)


def test_ctrl_c_names_the_kept_segments_of_an_output_named_for_its_codec(tmp_path, film):
    out = tmp_path / "film_color.mkv"  # FFV1 cannot go in the source's .mp4: the default name is .mkv
    run = stopped(start(tmp_path, film, None, args=("--codec", "ffv1")), parts_folder(out))
    assert error_lines(output_of(run))[-1] == (f"vidcolor: interrupted; finished segments are kept in "
                                               f"{parts_folder(out)}, rerun with --resume to go on")


def test_a_swallowed_ctrl_c_still_stops_the_run(tmp_path, film):
    """A library that catches the KeyboardInterrupt (or Python, when it lands in a __del__) must not
    turn Ctrl-C into a finished film and exit 0."""
    out = tmp_path / "out.mp4"
    run = stopped(start(tmp_path, film, out, swallow=True), parts_folder(out))
    assert not out.exists() and "Traceback" not in output_of(run)
    assert error_lines(output_of(run)) == [f"vidcolor: interrupted; finished segments are kept in {parts_folder(out)}, "
                                           "rerun with --resume to go on"]
