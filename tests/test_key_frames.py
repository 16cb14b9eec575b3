"""Key frames where the film needs them (film/key_frames.py): the ceiling on still shots, a new key
frame where the flow stops carrying the picture, the same picks from inside a shot; a film in
pieces, or an interlaced one resumed, with adaptive key frames is its one-process remaster."""

import av
import cv2
import numpy as np
import pytest
from toy_colorizer import ToyColorizer

from vidcolor.film.key_frames import KeyPicker
from vidcolor.film.remaster import remaster
from vidcolor.options import RemasterOptions

H, W = 72, 96


def texture(seed, width=W + 420):
    t = cv2.GaussianBlur(np.random.default_rng(seed).standard_normal((H, width)).astype(np.float32), (0, 0), 4.0)
    return (t - t.mean()) / t.std() * 15 + 50  # L* around 50


def moving_shot(n, jumps=(), appears=None, speed=0, seed=0):
    """L* frames of a texture panning `speed` pixels a frame; at each frame in `jumps` it jumps 40
    pixels on; from frame `appears` on, a bright block is in the picture."""
    scene, x, frames = texture(seed), 0, []
    for t in range(n):
        x += 40 if t in jumps else speed
        frame = scene[:, x:x + W].copy()
        if appears is not None and t >= appears:
            frame[10:50, 20:70] = 95
        frames.append(frame)
    return frames


def picks(picker, frames, shot=0, first=0):
    return [t for t, light in enumerate(frames) if t >= first and picker.is_key(shot, t, light)]


def test_fixed_key_frames_are_every_interval_th():
    assert picks(KeyPicker(3), moving_shot(13, jumps=(5,), speed=1)) == [0, 3, 6, 9, 12]


def test_a_still_shot_gets_key_frames_only_at_the_ceiling():
    still = [texture(1)[:, :W]] * 25
    assert picks(KeyPicker(4, "adaptive"), still) == [0, 8, 16, 24]
    grain = np.random.default_rng(2)
    grainy = [light + grain.normal(0, 2, light.shape).astype(np.float32) for light in still]
    assert picks(KeyPicker(4, "adaptive"), grainy) == [0, 8, 16, 24]


def test_a_moving_shot_gets_a_key_frame_every_interval_frames():
    assert picks(KeyPicker(4, "adaptive"), moving_shot(25, speed=6)) == [0, 4, 8, 12, 16, 20, 24]


def test_a_sudden_change_gets_a_key_frame_at_the_next_grid_frame():
    assert picks(KeyPicker(4, "adaptive"), moving_shot(25, jumps=(11,))) == [0, 8, 12, 16, 24]
    # something coming into view: a key frame when it is there, and the grid goes on from it
    assert picks(KeyPicker(4, "adaptive"), moving_shot(25, appears=3)) == [0, 4, 8, 16, 24]
    # the ceiling's frames are key frames whatever came before, so a key frame there restarts nothing
    assert picks(KeyPicker(4, "adaptive"), moving_shot(25, jumps=(15,))) == [0, 8, 16, 24]


def test_a_new_shot_starts_with_a_key_frame():
    picker, frames = KeyPicker(4, "adaptive"), moving_shot(6, speed=1)
    assert [picker.is_key("a", t, light) for t, light in enumerate(frames[:3])] == [True, False, False]
    assert picker.is_key("b", 0, frames[3]) and not picker.is_key("b", 2, frames[5])


@pytest.mark.parametrize("first", [3, 9, 13, 22])
def test_a_run_from_inside_a_shot_picks_the_key_frames_a_run_from_its_start_does(first):
    frames = moving_shot(40, jumps=(5, 11, 19, 27, 30), speed=1)
    whole = picks(KeyPicker(4, "adaptive"), frames)
    assert len(whole) > 40 // 8 + 1  # there is something to decide
    picker = KeyPicker(4, "adaptive")
    seen = picker.sees_from(first, 0)
    assert first - 8 < seen <= first and seen % 8 == 0
    late = [t for t, light in enumerate(frames) if t >= seen and picker.is_key(0, t, light)]
    assert [t for t in late if t >= first] == [t for t in whole if t >= first]
    # a shot that starts at frame 5 of the film: offsets count from it
    assert picker.sees_from(first + 5, 5) == seen + 5


def test_picker_rejects_unknown_rules():
    with pytest.raises(ValueError):
        KeyPicker(4, "sometimes")


def write_film(path, frames):
    """L* frames (0..100) as a grey H.264 film, losslessly."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.options = {"preset": "ultrafast", "qp": "0"}
        for t, light in enumerate(frames):
            y = np.clip(16 + light * 2.19, 0, 255).astype(np.uint8).ravel()
            yuv = np.concatenate([y, np.full(W * H // 2, 128, np.uint8)]).reshape(-1, W)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = t
            out.mux(video.encode(frame))
        out.mux(video.encode(None))


def test_a_film_in_pieces_with_adaptive_key_frames_is_its_one_process_remaster(tmp_path):
    from test_pieces import color_in_pieces, video_packets

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    # a cut at frame 29, off the key frames' grid: later pieces warm up from inside the second shot, where
    # something comes into view and the light fades (so its key frames differ)
    second = [light + 25 + t / 4 for t, light in enumerate(moving_shot(35, appears=3, seed=3))]
    write_film(src / "film.mp4", moving_shot(29, speed=2) + second)
    options = RemasterOptions.of(segment_frames=8, progress=False, crf=0, key_frames="adaptive")
    colorizer = ToyColorizer()
    whole = remaster(src / "film.mp4", tmp_path / "whole.mp4", options, colorizer=colorizer)
    assert whole.shots == 2, "the test's film has one cut"
    fixed = remaster(src / "film.mp4", tmp_path / "fixed.mp4", options.replace(key_frames="fixed"),
                     colorizer=colorizer).output
    assert video_packets(whole.output) != video_packets(fixed)
    pieces, frames = color_in_pieces(src, out, options, 8, colorizer)
    assert len(pieces) >= 6 and frames == 64
    assert video_packets(out / "film_color.mp4") == video_packets(whole.output)


def test_an_interlaced_film_with_adaptive_key_frames_resumed_gives_the_uninterrupted_packets(tmp_path):
    from clips import StopsAt
    from test_determinism import textured_frames, video_packets
    from test_fields import H as FIELD_H, W as FIELD_W, VividToy, colour, write_fields

    texture = textured_frames(FIELD_W, FIELD_H, 96)  # two pictures a frame: a panning texture, a field apart
    # it pans for 20 frames, then stands still: fewer key frames there
    def fields_of(i):
        k = 2 * min(i, 20)
        return texture[k][0::2], texture[k + 1][1::2]

    src = write_fields(tmp_path / "tape.mkv", fields_of, frames=48)
    settings = {"segment_frames": 8, "batch_size": 1, "key_frames": "adaptive"}
    whole = video_packets(colour(src, tmp_path / "whole.mkv", **settings).output)
    out = tmp_path / "resumed.mkv"
    with pytest.raises(RuntimeError):
        colour(src, out, **settings, colorizer=StopsAt(VividToy(), call=8, error=RuntimeError))
    result = colour(src, out, **settings, resume=True)
    assert result.resumed_frames > 0 and len(whole) == 48 and video_packets(out) == whole

