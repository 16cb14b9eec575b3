"""The same film and settings give the same bytes: run twice, or stopped and resumed, the
video packets are identical (the real threads, the default lossy encoding)."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import StopsAt

from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.film.segments import parts_folder


def textured_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Grey frames of a grainy texture panning, in three shots (the encoder has real decisions to make)."""
    rng = np.random.default_rng(seed)
    frames = []
    for shot in range(3):
        texture = cv2.GaussianBlur(rng.integers(0, 256, (height * 2, width * 2)).astype(np.uint8), (0, 0), 2 + shot)
        for i in range(count // 3):
            frames.append(np.ascontiguousarray(texture[i % height : i % height + height, 3 * i : 3 * i + width]))
    return frames


def write_film(path: Path, frames: list[np.ndarray]) -> Path:
    height, width = frames[0].shape
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for grey in frames:
            frame = av.VideoFrame.from_ndarray(grey, format="gray")
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return path


def video_packets(path: Path) -> list[tuple[bytes, int, int]]:
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts, p.dts) for p in c.demux(video=0) if p.size]


@pytest.fixture(scope="module")
def colorizer(random_weights):
    from vidcolor.model import load_colorizer

    return load_colorizer(random_weights)


def test_two_runs_and_a_resumed_run_give_identical_video_packets(tmp_path, colorizer):
    # without `mbtree=0` in the encoder's settings the resumed film differed from the first
    film = write_film(tmp_path / "film.mp4", textured_frames(160, 120, 96))
    # many segments, each its own encoder; the shot scan runs alongside the colour pass
    options = RemasterOptions.of(render_size=64, batch_size=2, segment_frames=8, progress=False)
    first = video_packets(remaster(film, tmp_path / "first.mp4", options, colorizer=colorizer).output)
    second = video_packets(remaster(film, tmp_path / "second.mp4", options, colorizer=colorizer).output)
    assert len(first) == 96 and second == first

    out = tmp_path / "resumed.mp4"
    with pytest.raises(KeyboardInterrupt):
        remaster(film, out, options, colorizer=StopsAt(colorizer, call=9))
    assert any(parts_folder(out).glob("segment-*.json")) and not out.exists()
    result = remaster(film, out, options, colorizer=colorizer, resume=True)
    assert result.resumed_frames > 0
    assert video_packets(out) == first
