"""The shot plan: scanned in a background thread ahead of the colour pass, the same as a full scan."""

import threading

import numpy as np
import pytest
from clips import make_clip

from vidcolor.media import probe_video
from vidcolor.film.shot_plan import ShotPlan, scan_shots


class MeanEmbedder:
    """Embeds a stack of grey frames as its mean brightness, repeated; records the thread it ran in."""

    def __init__(self, fail_at: int | None = None):
        self.threads, self.fail_at = set(), fail_at

    def embed(self, grey):
        self.threads.add(threading.current_thread().name)
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
