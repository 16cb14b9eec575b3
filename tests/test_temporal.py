"""Temporal a*b*: smoothing, in-between frames from key frames, no mixing across cuts, streaming contract."""

import cv2
import numpy as np
import pytest

from vidcolor.film.temporal import TemporalSmoother

H, W = 64, 96


def field(rng, width, sigma, std, mean=0.0):
    t = cv2.GaussianBlur(rng.standard_normal((H, width)).astype(np.float32), (0, 0), sigma)
    return (t - t.mean()) / t.std() * std + mean


def panning_clip(rng, n, speed, ab_noise=8.0):
    """Lightness texture and true chroma panning together; observed ab = true + per-frame noise."""
    width = W + n * speed + 1
    light = field(rng, width, 2.5, 40.0, 128.0)
    chroma = np.stack([field(rng, width, 4.0, 30.0) for _ in range(2)], axis=-1)
    lights, truth, observed = [], [], []
    for t in range(n):
        x = t * speed
        lights.append(np.clip(light[:, x:x + W] + rng.normal(0, 2, (H, W)), 0, 255).astype(np.uint8))
        truth.append(chroma[:, x:x + W].astype(np.float32))
        observed.append((truth[-1] + rng.normal(0, ab_noise, (H, W, 2))).astype(np.float32))
    return lights, truth, observed


def run(smoother, frames):
    """frames: (key, shot, light, ab); returns [(key, ab)] in emission order."""
    out = []
    for key, shot, light, ab in frames:
        out += smoother.push(key, shot, light, ab)
    return out + smoother.flush()


def smooth_clip(lights, observed, **kwargs):
    out = run(TemporalSmoother(**kwargs),
              [(t, 0, l, a) for t, (l, a) in enumerate(zip(lights, observed))])
    assert [k for k, _ in out] == list(range(len(lights)))
    return [a for _, a in out]


def naive_average(observed, radius=2, strength=0.6):
    """Same Gaussian time weights, but neighbours are averaged where they are (no warping)."""
    sigma = 0.5 + radius / 2
    out = []
    for t in range(len(observed)):
        js = range(max(0, t - radius), min(len(observed), t + radius + 1))
        weights = np.array([np.exp(-(j - t) ** 2 / (2 * sigma ** 2)) for j in js])
        mean = sum(w * observed[j] for w, j in zip(weights, js)) / weights.sum()
        out.append((1 - strength) * observed[t] + strength * mean)
    return out


def mse(a, b):
    return float(np.mean([np.mean((x - y) ** 2) for x, y in zip(a, b)]))


def frame_to_frame(a):
    return float(np.mean([np.mean((a[i + 1] - a[i]) ** 2) for i in range(len(a) - 1)]))


def test_values_never_mix_across_a_cut():
    rng = np.random.default_rng(0)
    # Same picture on both sides of the cut, so only the shot number can keep them apart.
    lights, _, _ = panning_clip(rng, 12, speed=1)
    frames = [(t, 0 if t < 6 else 1, lights[t],
               np.full((H, W, 2), 50.0 if t < 6 else -50.0, np.float32)) for t in range(12)]
    out = run(TemporalSmoother(radius=2, strength=1.0), frames)
    assert [k for k, _ in out] == list(range(12))
    for key, ab in out:
        assert ab.shape == (H, W, 2)
        assert np.max(np.abs(ab - (50.0 if key < 6 else -50.0))) < 1e-3, key


def test_shot_change_emits_previous_shot_at_once():
    rng = np.random.default_rng(1)
    lights, _, observed = panning_clip(rng, 6, speed=1)
    smoother = TemporalSmoother(radius=2)
    emitted = []
    for t in range(4):
        emitted += smoother.push(t, 7, lights[t], observed[t])
    assert [k for k, _ in emitted] == [0, 1]
    emitted = smoother.push(4, 8, lights[4], observed[4])
    assert [k for k, _ in emitted] == [2, 3]
    assert [k for k, _ in smoother.flush()] == [4]
    assert smoother.flush() == []


def test_smoothing_aligns_with_motion_and_reduces_noise():
    rng = np.random.default_rng(2)
    lights, truth, observed = panning_clip(rng, 16, speed=1)
    smoothed = smooth_clip(lights, observed, radius=2, strength=0.6)
    assert frame_to_frame(smoothed) < 0.7 * frame_to_frame(observed)
    assert mse(smoothed, truth) < 0.6 * mse(observed, truth)


def test_warping_beats_a_naive_average_on_a_fast_pan():
    rng = np.random.default_rng(3)
    lights, truth, observed = panning_clip(rng, 16, speed=5)
    smoothed = smooth_clip(lights, observed, radius=2, strength=0.6)
    naive = naive_average(observed, radius=2, strength=0.6)
    assert mse(smoothed, truth) < 0.6 * mse(observed, truth)
    # The naive average smears the moving chroma (ghosting): worse than not smoothing at all.
    assert mse(naive, truth) > mse(observed, truth)
    assert mse(smoothed, truth) < 0.5 * mse(naive, truth)


def test_strength_scales_the_change():
    rng = np.random.default_rng(8)
    lights, _, observed = panning_clip(rng, 8, speed=2)
    full = smooth_clip(lights, observed, radius=2, strength=1.0)
    part = smooth_clip(lights, observed, radius=2, strength=0.3)
    for f, p, o in zip(full, part, observed):
        np.testing.assert_allclose(p - o, 0.3 * (f - o), atol=1e-3)
    assert mse(full, observed) > 1.0


def test_occluded_pixels_get_no_weight():
    """A bright patch with its own chroma appears in one neighbour only: it must not leak."""
    rng = np.random.default_rng(9)
    light = np.clip(field(rng, W, 2.5, 40.0, 128.0), 0, 255).astype(np.uint8)
    lights = [light.copy() for _ in range(5)]
    abs_ = [np.zeros((H, W, 2), np.float32) for _ in range(5)]
    lights[3][20:44, 36:60] = 250
    abs_[3][20:44, 36:60] = 80.0
    out = dict(run(TemporalSmoother(radius=2, strength=1.0),
                   [(t, 0, lights[t], abs_[t]) for t in range(5)]))
    # Frame 3 weighs 0.8 against 1 + 0.8 + 0.4 + 0.4 for frame 2: ~24 if it leaked.
    assert np.max(np.abs(out[2][24:40, 40:56])) < 2.0
    assert np.max(np.abs(out[2][:, :30])) < 1e-3  # untouched area stays exact


@pytest.mark.parametrize("radius, strength", [(0, 0.6), (2, 0.0)])
def test_off_returns_ab_unchanged_in_order(radius, strength):
    rng = np.random.default_rng(4)
    lights, _, observed = panning_clip(rng, 5, speed=1)
    out = run(TemporalSmoother(radius=radius, strength=strength),
              [(t, t // 3, lights[t], observed[t]) for t in range(5)])
    assert [k for k, _ in out] == list(range(5))
    for (_, ab), original in zip(out, observed):
        np.testing.assert_array_equal(ab, original)


def test_every_key_once_in_order_with_short_shots():
    rng = np.random.default_rng(5)
    lights, _, observed = panning_clip(rng, 4, speed=1)
    shots = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4]  # shots shorter than the window too
    keys = [("frame", i) for i in range(len(shots))]
    frames = [(keys[i], s, lights[i % 4], observed[i % 4]) for i, s in enumerate(shots)]
    out = run(TemporalSmoother(radius=3), frames)
    assert [k for k, _ in out] == keys


def test_memory_is_bounded_to_the_window():
    rng = np.random.default_rng(6)
    lights, _, observed = panning_clip(rng, 4, speed=1)
    smoother = TemporalSmoother(radius=2)
    emitted, most_held = 0, 0
    for t in range(200):
        emitted += len(smoother.push(t, 0, lights[t % 4], observed[t % 4]))
        most_held = max(most_held, smoother.held)
        assert emitted == max(0, t + 1 - 2)  # each frame leaves once its 2 successors arrive
    assert most_held <= 2 * 2 + 1
    assert len(smoother.flush()) == 2 and smoother.held == 0


def test_float_lightness_scale_and_shape_checks():
    rng = np.random.default_rng(7)
    lights, truth, observed = panning_clip(rng, 10, speed=2)
    as_lstar = [l.astype(np.float32) * (100 / 255) for l in lights]
    smoothed = smooth_clip(as_lstar, observed, radius=2, light_max=100.0)
    assert mse(smoothed, truth) < 0.6 * mse(observed, truth)
    with pytest.raises(ValueError):
        TemporalSmoother().push(0, 0, lights[0], observed[0][:, :10])
    with pytest.raises(ValueError):
        TemporalSmoother(strength=1.5)


def fill_clip(lights, truth, interval, **kwargs):
    """Key frames (every interval-th) get the true ab, the others none: returns the filled-in clip."""
    frames = [(t, 0, l, a if t % interval == 0 else None) for t, (l, a) in enumerate(zip(lights, truth))]
    out = run(TemporalSmoother(key_interval=interval, **kwargs), frames)
    assert [k for k, _ in out] == list(range(len(lights)))
    return [a for _, a in out]


@pytest.mark.parametrize("interval", [2, 3])
def test_in_between_frames_follow_the_motion(interval):
    rng = np.random.default_rng(10)
    lights, truth, _ = panning_clip(rng, 13, speed=3)
    filled = fill_clip(lights, truth, interval, strength=0.0)
    held = [truth[t - t % interval] for t in range(len(truth))]  # each key's ab held until the next
    between = [t for t in range(len(truth)) if t % interval]
    assert mse([filled[t] for t in between], [truth[t] for t in between]) < 0.2 * mse(
        [held[t] for t in between], [truth[t] for t in between])
    for t in range(0, len(truth), interval):  # no smoothing asked: key frames come out as given
        np.testing.assert_array_equal(filled[t], truth[t])


def test_in_between_frames_take_the_side_where_they_are_visible():
    """A patch seen only in the later key frame colours an in-between frame that shows it too."""
    rng = np.random.default_rng(11)
    light = np.clip(field(rng, W, 2.5, 40.0, 128.0), 0, 255).astype(np.uint8)
    lights = [light.copy() for _ in range(3)]
    abs_ = [np.zeros((H, W, 2), np.float32) for _ in range(3)]
    for t in (1, 2):
        lights[t][20:44, 36:60] = 250
    abs_[2][20:44, 36:60] = 60.0
    out = dict(run(TemporalSmoother(radius=2, strength=0.0, key_interval=2),
                   [(0, 0, lights[0], abs_[0]), (1, 0, lights[1], None), (2, 0, lights[2], abs_[2])]))
    # Plain time weights would give 30 (halfway); frame 0 does not show the patch, so it has ~no say.
    assert np.median(out[1][24:40, 40:56]) > 55.0
    assert np.max(np.abs(out[1][:, :30])) < 1e-3


def test_in_between_frames_never_borrow_across_a_cut():
    rng = np.random.default_rng(12)
    lights, _, _ = panning_clip(rng, 6, speed=1)
    red, green = np.full((H, W, 2), 40.0, np.float32), np.full((H, W, 2), -40.0, np.float32)
    # shot 0: key, between, between(end of shot); shot 1 starts with a key
    frames = [(0, 0, lights[0], red), (1, 0, lights[1], None), (2, 0, lights[2], None),
              (3, 1, lights[3], green), (4, 1, lights[4], None), (5, 1, lights[5], green)]
    out = dict(run(TemporalSmoother(radius=1, strength=0.5, key_interval=3), frames))
    assert np.all(out[1] > 0) and np.all(out[2] > 0) and np.all(out[4] < 0)


def test_key_frame_smoothing_with_intervals_reduces_noise():
    rng = np.random.default_rng(13)
    lights, truth, observed = panning_clip(rng, 21, speed=2)
    frames = [(t, 0, lights[t], observed[t] if t % 2 == 0 else None) for t in range(21)]
    smoother = TemporalSmoother(radius=2, strength=0.6, key_interval=2)
    out = dict(run(smoother, frames))
    keys = range(0, 21, 2)
    assert mse([out[t] for t in keys], [truth[t] for t in keys]) < 0.6 * mse([observed[t] for t in keys],
                                                                              [truth[t] for t in keys])
    assert smoother.reach == 4 and smoother.held == 0


def still_frames(n, keys, values, **kwargs):
    """A still picture; key frame keys[k] has a*b* values[k] everywhere: {frame: a* out}."""
    light = np.clip(field(np.random.default_rng(14), W, 2.5, 40.0, 128.0), 0, 255).astype(np.uint8)
    ab = {t: np.full((H, W, 2), v, np.float32) for t, v in zip(keys, values)}
    out = run(TemporalSmoother(**kwargs), [(t, 0, light, ab.get(t)) for t in range(n)])
    assert [k for k, _ in out] == list(range(n))
    return {t: float(np.median(a[..., 0])) for t, a in out}


def test_in_between_frames_weigh_key_frames_spaced_unevenly_by_closeness():
    """Key frames where the film needs them (key_frames.py): gaps of 6 and 2 under a ceiling of 8."""
    out = still_frames(9, (0, 6, 8), (0.0, 60.0, 0.0), radius=2, strength=0.0, key_interval=8)
    assert out[2] == pytest.approx(20.0, abs=0.2) and out[3] == pytest.approx(30.0, abs=0.2)
    assert out[7] == pytest.approx(30.0, abs=0.2)


def test_key_frames_are_smoothed_with_their_neighbours_counted_in_key_frames():
    """radius 1: key frame 2's neighbours are 0 and 10 (the next key frame, however far), not 12."""
    out = still_frames(13, (0, 2, 10, 12), (0.0, 30.0, 60.0, 90.0), radius=1, strength=1.0, key_interval=8)
    near = np.exp(-0.5)  # the time weight one key frame away (sigma 1)
    assert out[2] == pytest.approx((30.0 + near * (0.0 + 60.0)) / (1 + 2 * near), abs=0.2)
    assert out[12] == pytest.approx((90.0 + near * 60.0) / (1 + near), abs=0.2)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (8, 8), (11, 11), (8, 320), (16, 640), (320, 8)])
def test_frames_too_small_for_the_optical_flow_are_smoothed_and_filled(shape):
    """DIS optical flow refuses frames under about 12 px a side (and 16x640: it picks its levels from the
    width); a tiny film's frames are enlarged for the flow. A pan still carries its colour along."""
    h, w = shape
    ramp = np.linspace(0, 255, w + 4, dtype=np.float32)[None].repeat(h, axis=0)
    frames = []
    for t in range(7):
        light = np.clip(ramp[:, t % 3 : t % 3 + w], 0, 255).astype(np.uint8)
        ab = np.full((h, w, 2), 30.0 if t < 4 else 10.0, np.float32) if t % 3 == 0 else None  # keys 0, 3, 6
        frames.append((t, 0, light, ab))
    out = run(TemporalSmoother(radius=2, strength=0.6, key_interval=3), frames)
    assert [k for k, _ in out] == list(range(7))
    for _, ab in out:
        assert ab.shape == (h, w, 2) and np.isfinite(ab).all() and (ab >= 10.0 - 1e-3).all() and (ab <= 30.0 + 1e-3).all()
