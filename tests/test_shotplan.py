"""The shot plan: scanned by the colour pass's own decoding, or in a background thread ahead of it, the same as a full scan."""

import threading

import numpy as np
import pytest
from clips import make_clip

from vidcolor.color import grey_from_lightness, grey_to_lightness_table
from vidcolor.film import shot_scan
from vidcolor.film.shot_plan import ShotPlan
from vidcolor.film.shot_scan import EMBED_SHORT_SIDE, scan_shots
from vidcolor.media import decode_frames_and_small, decode_small_frames, probe_video


class MeanEmbedder:
    """Embeds a stack of grey frames as its mean brightness, repeated; records the thread it ran in."""

    def __init__(self, fail_at: int | None = None):
        self.threads, self.fail_at, self.picks = set(), fail_at, []

    def embed(self, grey):
        self.threads.add(threading.current_thread().name)
        self.picks.append(grey)
        if self.fail_at is not None and grey.mean() > self.fail_at:
            raise RuntimeError("embedder broke")
        return np.full((len(grey), 1000), grey.mean(), np.float32)


@pytest.fixture
def film(tmp_path):
    return make_clip(tmp_path / "film.mp4", size=(96, 64), frames=40)  # shots: frames 0-19 and 20-39


def test_live_plan_matches_the_full_scan_and_is_saved_when_done(film):
    info = probe_video(film)
    shots = list(scan_shots(film, info, MeanEmbedder()))
    assert [(s.start, s.end) for s in shots] == [(0, 20), (20, 40)]
    saved = []
    embedder = MeanEmbedder()
    with ShotPlan.scan(film, info, embedder, on_complete=saved.append) as live:
        assert [live.shot_of(i) for i in (0, 19, 20, 39)] == [0, 0, 1, 1]
        assert live.shot_start(1) == 20
        np.testing.assert_array_equal(live.embeddings[[1, 0]], np.stack([shots[1].embedding, shots[0].embedding]))
        plan = live.finish()
    assert plan.cuts == [20] and plan.frames == 40 and plan.shots == 2
    np.testing.assert_array_equal(plan.embeddings, np.stack([s.embedding for s in shots]))
    assert len(saved) == 1 and saved[0].cuts == [20] and saved[0].frames == 40
    assert embedder.threads == {"vidcolor-plan"}  # scanned in the background, not in the caller's thread
    assert live.shot_of(100) == 1  # past the end: the last shot


def test_a_failing_scan_raises_in_the_color_pass(film):
    with ShotPlan.scan(film, probe_video(film), MeanEmbedder(fail_at=-1)) as live, \
            pytest.raises(RuntimeError, match="embedder broke"):
        live.shot_of(0)


def test_a_saved_plan_answers_at_the_shot_boundaries():
    embeddings = np.arange(3 * 1000, dtype=np.float32).reshape(3, 1000)
    plan = ShotPlan.saved([10, 25], embeddings, 40)
    assert [plan.shot_of(i) for i in (0, 9, 10, 24, 25, 39, 100)] == [0, 0, 1, 1, 2, 2, 2]
    assert [plan.shot_start(s) for s in range(3)] == [0, 10, 25]
    assert plan.cuts == [10, 25] and plan.frames == 40 and plan.shots == 3 and plan.finish() is plan
    np.testing.assert_array_equal(np.asarray(plan.embeddings), embeddings)
    np.testing.assert_array_equal(plan.embeddings[[2, 0]], embeddings[[2, 0]])
    assert ShotPlan.saved([], embeddings[:1], 5).shot_of(100) == 0


def _along(film, info, embedder, pulled=None, **kwargs):
    """A plan scanned by one decoding pass, and the frames it hands on; `pulled` counts the frames decoded."""
    plan = ShotPlan.along(info, embedder, **kwargs)
    pairs = decode_frames_and_small(film, info, EMBED_SHORT_SIDE)
    if pulled is not None:
        pairs = (pulled.append(pair[0].index) or pair for pair in pairs)
    return plan, plan.scan_along(pairs)


def _same_shots(a, b):
    assert [(s.start, s.end, s.pts, s.color) for s in a] == [(s.start, s.end, s.pts, s.color) for s in b]
    np.testing.assert_array_equal(np.stack([s.embedding for s in a]), np.stack([s.embedding for s in b]))


def test_a_plan_scanned_by_the_colour_pass_decoding_is_the_scan_of_a_pass_of_its_own(film):
    info = probe_video(film)
    own_pass = list(scan_shots(film, info, MeanEmbedder()))
    saved = []
    plan, frames = _along(film, info, MeanEmbedder(), on_complete=saved.append)
    handed = []
    for frame in frames:
        handed.append(frame.index)
        plan.shot_of(frame.index)  # answered without waiting: the frame's shot is settled
    assert handed == list(range(40))
    _same_shots(plan.finish()._shots, own_pass)
    assert plan.cuts == [20] and plan.frames == 40 and len(saved) == 1 and saved[0].cuts == [20]
    assert plan.frame_pts is not None and len(plan.frame_pts) == 40


def test_a_long_shot_is_settled_from_its_first_frames_and_its_frames_are_not_all_held(film, monkeypatch):
    monkeypatch.setattr(shot_scan, "LEAST_SETTLE_FRAMES", 6)
    monkeypatch.setattr(shot_scan, "MOST_SETTLE_FRAMES", 6)  # each 20-frame shot settles after 6 frames
    info = probe_video(film)
    pulled, held = [], []
    embedder = MeanEmbedder()
    plan, frames = _along(film, info, embedder, pulled=pulled)
    for frame in frames:
        held.append(len(pulled) - frame.index)  # decoded and not yet handed on, this one included
        assert plan.shot_of(frame.index) == (frame.index >= 20)
    assert max(held) == 6
    _same_shots(plan.finish()._shots, list(scan_shots(film, info, MeanEmbedder())))
    grey = grey_from_lightness(grey_to_lightness_table(info.full_range))
    small = [grey[s.luma] for s in decode_small_frames(film, EMBED_SHORT_SIDE)]
    # the second shot's picks: its first frame, and the last of its first six
    np.testing.assert_array_equal(embedder.picks[1][[0, -1]], np.stack([small[20], small[25]]))


def test_a_failing_scan_along_raises_in_the_colour_pass_and_frees_its_plan(film):
    plan, frames = _along(film, probe_video(film), MeanEmbedder(fail_at=-1))
    with pytest.raises(RuntimeError, match="embedder broke"):
        next(frames)
    assert plan.shot_of(0) == 0 and plan.frames == 0  # the scan's end was sent: no lookup waits for ever
