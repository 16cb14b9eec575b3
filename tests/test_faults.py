"""The last faults of the bad-input sweep (issue 25), each through the command line with the toy
colorizer: a full disk while segments are written, a stop in the moment after the last frame, an
animated GIF, a direction file's reference that is not a photo, outputs checked before the model
loads, and subtitles an MP4 holds as mov_text remastered into Matroska."""

import errno
import io
import os
import struct
import subprocess
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from clips import make_clip, read_video
from films import make_film
from PIL import Image
from toy_colorizer import install
from typer.testing import CliRunner

import vidcolor.film.segments
from vidcolor.cli import app
from vidcolor.film.segments import SegmentStore, parts_folder

runner = CliRunner()
TOY = ["--render-size", "32", "-q"]


def invoke(*args):
    return runner.invoke(app, [*map(str, args)])


@pytest.fixture
def toy(monkeypatch):
    install({}, monkeypatch)


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: what is checked here must be checked before."""

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("vidcolor.model.colorizer.load_colorizer", loaded)


def mounted_tmpfs(folder, options: str):
    """A tmpfs mounted at `folder` (made here), or a skip where this machine allows no mount."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return folder


def unmount(folder) -> None:
    subprocess.run(["umount", "-l", str(folder)], check=False)


def lines(result) -> list[str]:
    return result.output.strip().splitlines()


# --- 1. a full disk while segments are written --------------------------------------------------------


class FullDisk(io.FileIO):
    """A segment file on a disk that is full after ROOM bytes: like a real one, it takes what fits,
    then fails, and the buffered writer keeps the rest, so closing the file fails again."""

    ROOM = 3000

    def write(self, data):
        room = self.ROOM - self.tell()
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(bytes(data[:room]))  # as much as fits, as write(2) does


def test_disk_full_while_segments_are_written_is_one_line(tmp_path, toy, monkeypatch):
    src = make_clip(tmp_path / "a.mp4", size=(320, 240), frames=60, audio="aac")
    real_open = open

    def segment_open(path, mode="r", *args, **kwargs):
        if str(path).endswith(".packets") and "w" in mode:
            return io.BufferedWriter(FullDisk(path, "w"))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(vidcolor.film.segments, "open", segment_open, raising=False)
    result = invoke("remaster", src, *TOY)
    assert result.exit_code == 3, result.output
    assert len(lines(result)) == 1 and "No space left on device" in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a.mp4"], [".a_color.mp4.vidcolor-parts", "a.mp4"])
    folder = parts_folder(tmp_path / "a_color.mp4")
    assert not folder.exists() or not any("partial" in p.name for p in folder.iterdir())


def test_disk_full_on_a_real_small_file_system(tmp_path, toy):
    src = make_clip(tmp_path / "a.mp4", size=(320, 240), frames=60, audio="aac")
    disk = mounted_tmpfs(tmp_path / "disk", "size=40k")
    try:
        result = invoke("remaster", src, "-o", disk / "out.mp4", *TOY)
        assert result.exit_code == 3, result.output
        assert len(lines(result)) == 1 and "No space left on device" in result.output, result.output
        assert "resume=True" not in result.output  # the command's own word: --resume
        left = sorted(p.name for p in disk.iterdir())
        assert left in ([], [".out.mp4.vidcolor-parts"]), left
    finally:
        unmount(disk)


def test_disk_full_at_the_join_says_the_commands_option(tmp_path, toy, monkeypatch):
    src = make_clip(tmp_path / "a.mp4", frames=8)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(av.container.OutputContainer, "mux", full)
    result = invoke("remaster", src, *TOY)
    assert result.exit_code == 3 and len(lines(result)) == 1, result.output
    assert "--resume" in result.output and "resume=True" not in result.output, result.output


# --- 2. a stop in the moment after the last frame --------------------------------------------------------


def stop_at(moment: str, output, monkeypatch) -> None:
    """A KeyboardInterrupt (Ctrl-C) delivered once, at `moment` of a remaster's end."""
    import vidcolor.film.remaster
    import vidcolor.media.write

    done = []

    def once():
        if not done:
            done.append(1)
            raise KeyboardInterrupt

    real_replace, real_remove = os.replace, SegmentStore.remove

    def replace(temp, dest):
        if moment == "before the rename" and str(dest) == str(output):
            once()
        real_replace(temp, dest)
        if moment == "after the rename" and str(dest) == str(output):
            once()

    def remove(store):
        if moment == "while the parts are removed":
            files = sorted(store.folder.iterdir())
            files[0].unlink()  # half removed when the stop comes
            once()
        real_remove(store)

    monkeypatch.setattr(vidcolor.media.write.os, "replace", replace)
    monkeypatch.setattr(SegmentStore, "remove", remove)
    if moment == "after the parts are removed":
        result = vidcolor.film.remaster.RemasterResult

        def summary(*args, **kwargs):
            once()
            return result(*args, **kwargs)

        monkeypatch.setattr(vidcolor.film.remaster, "RemasterResult", summary)


@pytest.mark.parametrize("moment", ["before the rename", "after the rename", "while the parts are removed",
                                    "after the parts are removed"])
def test_a_stop_around_the_join_leaves_a_finished_film_or_a_resumable_one(tmp_path, toy, monkeypatch, moment):
    src = make_clip(tmp_path / "f.mp4", frames=12, audio="aac")
    out = tmp_path / "out.mp4"
    with monkeypatch.context() as patch:
        stop_at(moment, out, patch)
        result = invoke("remaster", src, "-o", out, *TOY)
    assert result.exit_code in (0, 130), result.output
    left = sorted(p.name for p in tmp_path.iterdir())
    if out.exists():  # finished: a clean folder, and said so
        assert left == ["f.mp4", "out.mp4"], left
        assert len(read_video(out)) == 12
        assert "--resume" not in result.output and "no partial output" not in result.output, result.output
        assert result.exit_code == 0 or f"{out} is finished" in result.output, result.output
    else:  # not finished: resumable, and said so
        assert result.exit_code == 130 and "--resume" in result.output, result.output
        assert left == [".out.mp4.vidcolor-parts", "f.mp4"], left
        again = invoke("remaster", src, "-o", out, "--resume", *TOY)
        assert again.exit_code == 0, again.output
        assert len(read_video(out)) == 12 and not parts_folder(out).exists()


# --- 3. an animated GIF ----------------------------------------------------------------------------------


def test_an_animated_gif_is_said_to_lose_its_other_frames(tmp_path, toy):
    pictures = [Image.fromarray(np.full((48, 64, 3), 40 * k, np.uint8)) for k in range(5)]
    pictures[0].save(tmp_path / "anim.gif", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    pictures[0].save(tmp_path / "still.gif")
    if cv2.imdecode(np.fromfile(tmp_path / "anim.gif", np.uint8), cv2.IMREAD_COLOR) is None:
        pytest.skip("this OpenCV reads no GIF")
    result = invoke("colorize", tmp_path / "anim.gif", tmp_path / "still.gif", "-q")
    assert result.exit_code == 0, result.output
    warnings = [line for line in lines(result) if line.startswith("vidcolor: warning:")]
    assert len(warnings) == 1, result.output
    assert str(tmp_path / "anim.gif") in warnings[0] and "5 frames" in warnings[0], warnings


# --- 4. a direction file's reference that is not a photo ------------------------------------------------------


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return make_film(tmp_path_factory.mktemp("films") / "film.mp4", [("chelsea", "grey"), ("rocket", "grey")],
                     frames=6)


def test_a_reference_that_is_not_a_photo_is_refused_before_the_model_loads(tmp_path, film, no_model):
    (tmp_path / "notes.jpg").write_text("not a photo")
    direction = tmp_path / "d.toml"
    direction.write_text('shots = 2\n[[shot]]\nnumber = 2\nreference = "notes.jpg"\n')
    result = invoke("remaster", film, "-o", tmp_path / "out.mp4", "-d", direction, *TOY)
    assert result.exit_code == 2, result.output
    assert len(lines(result)) == 1, result.output
    assert f"{direction}: shot 2: reference {tmp_path / 'notes.jpg'}: not a readable image" in result.output
    preview = invoke("shots", film, "-o", tmp_path / "sheet", "--preview", "-d", direction, "-q")
    assert preview.exit_code == 2 and len(lines(preview)) == 1 and "shot 2" in preview.output, preview.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.toml", "notes.jpg"]


def test_a_failed_shots_preview_leaves_no_empty_folder(tmp_path, film):
    result = invoke("shots", film, "-o", tmp_path / "new" / "sheet", "--preview", "--weights",
                    tmp_path / "none.weights.h5", "-q")
    assert result.exit_code == 4 and len(lines(result)) == 1, result.output
    assert list(tmp_path.iterdir()) == []


# --- 5. outputs checked before the model loads ------------------------------------------------------------


@pytest.fixture
def locked(tmp_path):
    """A folder nobody may write to: read-only to a user, a read-only mount to root."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    folder = mounted_tmpfs(tmp_path / "locked", "ro,size=64k")
    try:
        yield folder
    finally:
        unmount(folder)


def test_colorize_into_an_unwritable_folder_is_refused_before_the_model_loads(tmp_path, locked, no_model):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.tile(np.arange(96, dtype=np.uint8)[None, :] * 2, (64, 1)))
    result = invoke("colorize", photo, "-o", locked, "-q")
    assert result.exit_code == 3, result.output
    assert lines(result) == [f"vidcolor: {locked / 'photo_color.png'}: cannot write (folder {locked} is not writable)"]


def test_colorize_refuses_existing_outputs_before_the_model_loads(tmp_path, no_model):
    photos = [tmp_path / "a.png", tmp_path / "b.png"]
    for photo in photos:
        cv2.imwrite(str(photo), np.zeros((16, 16), np.uint8))
        (tmp_path / f"{photo.stem}_color.png").write_bytes(b"kept")
    result = invoke("colorize", *photos, "-q")
    assert result.exit_code == 3, result.output
    assert lines(result) == [f"vidcolor: {tmp_path / 'a_color.png'}: already exists (use --force to overwrite)",
                             f"vidcolor: {tmp_path / 'b_color.png'}: already exists (use --force to overwrite)",
                             "vidcolor: 2 of 2 images failed"]
    assert (tmp_path / "a_color.png").read_bytes() == b"kept"


def test_colorize_goes_on_with_the_pictures_it_can_write(tmp_path, toy):
    photos = [tmp_path / "a.png", tmp_path / "b.png"]
    for photo in photos:
        cv2.imwrite(str(photo), np.zeros((16, 16), np.uint8))
    (tmp_path / "a_color.png").write_bytes(b"kept")
    result = invoke("colorize", *photos, "-q")
    assert result.exit_code == 1, result.output
    assert lines(result) == [f"vidcolor: {tmp_path / 'a_color.png'}: already exists (use --force to overwrite)",
                             "vidcolor: 1 of 2 images failed"]
    assert (tmp_path / "a_color.png").read_bytes() == b"kept" and (tmp_path / "b_color.png").is_file()


# --- 6. mov_text subtitles into Matroska ----------------------------------------------------------------------


def make_mov_text_clip(path, frames: int = 20):
    """An MP4 with a mov_text subtitle track of two lines (3GPP timed text: a 16-bit length, then the text)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        subtitles = out.add_mux_stream("mov_text", time_base=Fraction(1, 1000))
        for k, text in enumerate([b"First line", b"Second line"]):
            packet = av.Packet(struct.pack(">H", len(text)) + text)
            packet.pts = packet.dts = k * 300
            packet.duration, packet.time_base, packet.stream = 300, Fraction(1, 1000), subtitles
            out.mux(packet)
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * k, np.uint8), format="rgb24")
            frame.pts = k
            out.mux(video.encode(frame.reformat(format="yuv420p")))
        out.mux(video.encode(None))
    return path


def test_mov_text_subtitles_are_carried_into_matroska_as_subrip(tmp_path, toy):
    src = make_mov_text_clip(tmp_path / "subs.mp4")
    result = invoke("remaster", src, "-o", tmp_path / "out.mkv", *TOY)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output, result.output
    with av.open(str(tmp_path / "out.mkv")) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name in ("subrip", "srt")
        said = [(float(p.pts * p.time_base), float(p.duration * p.time_base), bytes(p))
                for p in container.demux(stream) if p.size]
    assert said == [(0.0, 0.3, b"First line"), (0.3, 0.3, b"Second line")]


def test_subtitles_left_out_are_told_truthfully(tmp_path, toy):
    from vidcolor.media import check_output, probe_video

    src = make_mov_text_clip(tmp_path / "subs.mp4")
    check = check_output(probe_video(src), tmp_path / "out.avi")
    assert check.warnings == (f"{tmp_path / 'out.avi'}: subtitle stream #1 (mov_text) cannot be carried into a .avi "
                              "file and was left out (use .mp4, .mkv or .mov to keep it)",)
