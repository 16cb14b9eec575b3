"""The shot plan: scanned by the colour pass's own decoding, or in a background thread ahead of it, the same as a full
scan; kept as it goes, so that a scan killed midway goes on from the shots it had ended, to the same plan."""

import threading

import av
import numpy as np
import pytest
from clips import make_clip
from films import make_film

from vidcolor.color import grey_from_lightness, grey_to_lightness_table
from vidcolor.film import shot_plan, shot_scan
from vidcolor.film.segments import PLAN_SO_FAR, SegmentStore
from vidcolor.film.shot_plan import PlanSoFar, ShotPlan
from vidcolor.film.shot_scan import EMBED_SHORT_SIDE, ShotScanner, scan_shots
from vidcolor.media import decode_frames_and_small, decode_small_frames, probe_video, seek


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


class Keeper:
    """Keeps what a scan hands its keeper, as a side folder would (segments.SegmentStore)."""

    def __init__(self):
        self.plans, self.so_far = [], []

    def save_plan(self, plan):
        self.plans.append(plan)

    def save_plan_so_far(self, so_far):
        self.so_far.append(so_far)


@pytest.fixture
def film(tmp_path):
    return make_clip(tmp_path / "film.mp4", size=(96, 64), frames=40)  # shots: frames 0-19 and 20-39


def test_live_plan_matches_the_full_scan_and_is_saved_when_done(film):
    info = probe_video(film)
    shots = list(scan_shots(film, info, MeanEmbedder()))
    assert [(s.start, s.end) for s in shots] == [(0, 20), (20, 40)]
    keeper = Keeper()
    embedder = MeanEmbedder()
    with ShotPlan.scan(film, info, embedder, keeper=keeper) as live:
        assert [live.shot_of(i) for i in (0, 19, 20, 39)] == [0, 0, 1, 1]
        assert live.shot_start(1) == 20
        np.testing.assert_array_equal(live.embeddings[[1, 0]], np.stack([shots[1].embedding, shots[0].embedding]))
        plan = live.finish()
    assert plan.cuts == [20] and plan.frames == 40 and plan.shots == 2
    np.testing.assert_array_equal(plan.embeddings, np.stack([s.embedding for s in shots]))
    assert len(keeper.plans) == 1 and keeper.plans[0].cuts == [20] and keeper.plans[0].frames == 40
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


def test_a_plan_scanned_by_the_colour_pass_decoding_is_the_scan_of_a_pass_of_its_own(film, monkeypatch):
    monkeypatch.setattr(shot_plan, "SAVE_SO_FAR_SECONDS", 0)
    info = probe_video(film)
    own_pass = list(scan_shots(film, info, MeanEmbedder()))
    keeper = Keeper()
    plan, frames = _along(film, info, MeanEmbedder(), keeper=keeper)
    handed = []
    for frame in frames:
        handed.append(frame.index)
        plan.shot_of(frame.index)  # answered without waiting: the frame's shot is settled
    assert handed == list(range(40))
    _same_shots(plan.finish()._shots, own_pass)
    assert plan.cuts == [20] and plan.frames == 40 and len(keeper.plans) == 1 and keeper.plans[0].cuts == [20]
    assert plan.frame_pts is not None and len(plan.frame_pts) == 40
    # kept as it went: the first shot once it ended, with the pts up to the second one's first frame
    [so_far] = keeper.so_far
    _same_shots(so_far.shots, own_pass[:1])
    np.testing.assert_array_equal(so_far.frame_pts, plan.frame_pts[:21])


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


@pytest.fixture(scope="module")
def four_shots(tmp_path_factory):
    """Four shots of 12 frames, panning over four photographs."""
    return make_film(tmp_path_factory.mktemp("films") / "four.mp4",
                     [("chelsea", "grey"), ("rocket", "grey"), ("astronaut", "grey"), ("coffee", "grey")])


def test_a_scan_killed_midway_goes_on_from_the_shots_it_had_ended_to_the_plan_of_a_full_scan(
        four_shots, tmp_path, monkeypatch):
    monkeypatch.setattr(shot_plan, "SAVE_SO_FAR_SECONDS", 0)
    info = probe_video(four_shots)
    keeper = Keeper()
    full = ShotPlan.scan(four_shots, info, MeanEmbedder(), keeper=keeper).finish()
    assert full.cuts == [12, 24, 36] and [so_far.frames for so_far in keeper.so_far] == [12, 24, 36]
    store = SegmentStore(tmp_path)
    for so_far in keeper.so_far:
        store.save_plan_so_far(so_far)
        kept = store.load_plan_so_far()  # as a resumed run reads it back
        embedder, resumed_keeper = MeanEmbedder(), Keeper()
        resumed = ShotPlan.scan(four_shots, info, embedder, keeper=resumed_keeper, so_far=kept)
        assert resumed.shot_of(kept.frames - 1) == len(kept.shots) - 1  # answered from the kept shots
        resumed.finish()
        _same_shots(resumed._shots, full._shots)
        assert resumed.cuts == full.cuts and resumed.frames == 48 and resumed.colors == full.colors
        np.testing.assert_array_equal(resumed.frame_pts, full.frame_pts)
        assert len(embedder.picks) == 4 - len(kept.shots)  # only the shots from where it went on
        [complete] = resumed_keeper.plans  # the complete plan is kept as a full scan's is
        _same_shots(complete._shots, full._shots)


def test_a_resumed_scan_answers_how_far_the_film_goes_and_its_first_pts_without_waiting_for_its_end(
        four_shots, monkeypatch):
    """A resumed run colours as soon as the scan has reached its first frames (remaster.color_pass)."""
    monkeypatch.setattr(shot_plan, "SAVE_SO_FAR_SECONDS", 0)
    info = probe_video(four_shots)
    keeper = Keeper()
    full = ShotPlan.scan(four_shots, info, MeanEmbedder(), keeper=keeper).finish()
    decode, asked, released = shot_plan.decode_small_frames_from, threading.Event(), []

    def held(*args, **kwargs):  # the scan's decoding, held before the last frame until the answers are in
        for small in decode(*args, **kwargs):
            if small.index == 47:
                released.append(asked.wait(20))
            yield small

    monkeypatch.setattr(shot_plan, "decode_small_frames_from", held)
    resumed = ShotPlan.scan(four_shots, info, MeanEmbedder(), so_far=keeper.so_far[1])  # shots 0-1 kept
    np.testing.assert_array_equal(resumed.frame_pts_through(5), full.frame_pts[:24])  # the kept shots'
    assert resumed.frames_through(30) == 36  # shot 2 (frames 24-35) scanned to its end, not the film
    np.testing.assert_array_equal(resumed.frame_pts_through(30), full.frame_pts[:36])
    asked.set()
    assert resumed.frame_pts_through(100) is not None and resumed.frames_through(100) == 48
    assert released == [True]  # none of the answers before waited for the scan's end
    np.testing.assert_array_equal(resumed.frame_pts_through(100), full.frame_pts)


def _key_frames(path):
    with av.open(str(path)) as container:
        return [index for index, frame in enumerate(container.decode(video=0)) if frame.key_frame]


def test_a_resumed_scan_decodes_from_the_key_frame_before_where_it_goes_on_and_scans_from_there(
        tmp_path, monkeypatch):
    film = make_clip(tmp_path / "gop.mp4", size=(96, 64), frames=40, gop=8)  # shots: frames 0-19 and 20-39
    monkeypatch.setattr(shot_plan, "SAVE_SO_FAR_SECONDS", 0)
    info = probe_video(film)
    keeper = Keeper()
    full = ShotPlan.scan(film, info, MeanEmbedder(), keeper=keeper).finish()
    [so_far] = keeper.so_far
    assert so_far.frames == 20
    decoded, scanned = [], []
    seeked, push = seek._seeked, ShotScanner.push
    monkeypatch.setattr(seek, "_seeked", lambda *args: (decoded.append(i) or (i, f) for i, f in seeked(*args)))
    monkeypatch.setattr(ShotScanner, "push", lambda scanner, small: scanned.append(small.index) or push(scanner, small))
    resumed = ShotPlan.scan(film, info, MeanEmbedder(), so_far=so_far).finish()
    key = max(k for k in _key_frames(film) if k <= 20)
    assert 0 < key and decoded == list(range(key, 40)) and scanned == list(range(20, 40))
    _same_shots(resumed._shots, full._shots)


def test_a_damaged_or_mismatched_plan_so_far_is_not_trusted_and_the_complete_plan_replaces_it(
        four_shots, tmp_path, monkeypatch):
    monkeypatch.setattr(shot_plan, "SAVE_SO_FAR_SECONDS", 0)
    keeper = Keeper()
    full = ShotPlan.scan(four_shots, probe_video(four_shots), MeanEmbedder(), keeper=keeper).finish()
    store, path = SegmentStore(tmp_path), tmp_path / PLAN_SO_FAR
    assert store.load_plan_so_far() is None  # none kept
    store.save_plan_so_far(keeper.so_far[1])
    whole = path.read_bytes()
    assert store.load_plan_so_far().frames == 24
    for damaged in (whole[: len(whole) // 2], b"not a plan", b""):
        path.write_bytes(damaged)
        assert store.load_plan_so_far() is None
    arrays = keeper.so_far[1].arrays()
    for name, wrong in [("ends", np.array([12, 12])), ("ends", np.array([12.0, 24.0])),
                        ("embeddings", arrays["embeddings"][:1]), ("colors", arrays["colors"][:, :1]),
                        ("frame_pts", arrays["frame_pts"][:-1]), ("embeddings", np.full((2, 1000), np.nan))]:
        assert PlanSoFar.from_arrays({**arrays, name: wrong}) is None, name
        np.savez(path, **{**arrays, name: wrong})
        assert store.load_plan_so_far() is None, name
    assert PlanSoFar.from_arrays({k: v for k, v in arrays.items() if k != "colors"}) is None
    store.save_plan_so_far(keeper.so_far[1])
    store.save_plan(full)
    assert not path.exists() and store.load_plan().cuts == [12, 24, 36]
