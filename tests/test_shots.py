"""Cut detection on synthetic grey clips, shot ranges, and the bounded per-shot sampler."""

import cv2
import numpy as np
import pytest

from vidcolor.film.cuts import CutDetector, ShotSampler

H, W = 64, 96


def texture(rng, width, sigma=3.0, std=40.0, mean=128.0):
    """Smooth random grey texture (float), wider than a frame so a pan can crop from it."""
    t = cv2.GaussianBlur(rng.standard_normal((H, width)).astype(np.float32), (0, 0), sigma)
    return (t - t.mean()) / t.std() * std + mean


def pan(rng, tex, n, speed=1.0, noise=3.0, x0=0):
    """n frames cropped from `tex`, moving `speed` px/frame, with independent camera noise."""
    frames = []
    for i in range(n):
        x = x0 + int(round(i * speed))
        frame = tex[:, x:x + W] + rng.normal(0, noise, (H, W))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def detect(frames, **kwargs):
    detector = CutDetector(**kwargs)
    flags = [detector.push(f) for f in frames]
    return detector, flags


def test_one_hard_cut_between_two_panning_scenes():
    rng = np.random.default_rng(0)
    scene_a = pan(rng, texture(rng, 200), 30, speed=1)
    scene_b = pan(rng, texture(rng, 200, sigma=2.0, mean=110), 20, speed=1)
    detector, flags = detect(scene_a + scene_b)
    assert detector.cuts == [30]
    assert [i for i, f in enumerate(flags) if f] == [30]
    assert flags[0] is False


def test_cut_between_low_contrast_scenes_of_equal_brightness():
    rng = np.random.default_rng(1)
    scene_a = pan(rng, texture(rng, 200, std=15), 20)
    scene_b = pan(rng, texture(rng, 200, sigma=2.0, std=15), 20)
    assert detect(scene_a + scene_b)[0].cuts == [20]


@pytest.mark.parametrize("speed", [1, 4, 6])
def test_pan_does_not_cut(speed):
    rng = np.random.default_rng(2)
    detector, _ = detect(pan(rng, texture(rng, 60 * speed + W + 1), 60, speed=speed))
    assert detector.cuts == []


def test_slow_brightness_ramp_and_flicker_do_not_cut():
    rng = np.random.default_rng(3)
    base = pan(rng, texture(rng, 200, mean=100), 60, speed=0.5)
    ramp = [np.clip(f + 2.0 * i, 0, 255).astype(np.uint8) for i, f in enumerate(base)]
    flicker = [np.clip(f * (1.15 if i % 2 else 0.85), 0, 255).astype(np.uint8)
               for i, f in enumerate(base)]
    flat_ramp = [np.full((H, W), 10 + 3 * i, np.uint8) for i in range(60)]
    for clip in (ramp, flicker, flat_ramp):
        assert detect(clip)[0].cuts == []


def test_heavy_camera_noise_does_not_cut():
    rng = np.random.default_rng(4)
    assert detect(pan(rng, texture(rng, 200), 60, speed=0, noise=15))[0].cuts == []


@pytest.mark.parametrize("fade_frames", [3, 10])
def test_fade_to_black_then_new_scene_gives_one_cut_at_the_new_scene(fade_frames):
    rng = np.random.default_rng(5)
    tex_a = texture(rng, 200)
    scene_a = pan(rng, tex_a, 20, speed=1)
    last = tex_a[:, 19:19 + W]
    fade = [np.clip(last * (1 - (i + 1) / fade_frames) + rng.normal(0, 3, (H, W)), 0, 255)
            .astype(np.uint8) for i in range(fade_frames)]
    black = [np.clip(rng.normal(4, 3, (H, W)), 0, 255).astype(np.uint8) for _ in range(6)]
    scene_b = pan(rng, texture(rng, 200, sigma=2.0), 20, speed=1)
    clip = scene_a + fade + black + scene_b
    assert detect(clip)[0].cuts == [len(scene_a) + fade_frames + len(black)]


def test_minimum_shot_length_is_respected():
    rng = np.random.default_rng(6)
    tex_a, tex_b = texture(rng, 240), texture(rng, 240, sigma=2.0)
    clip = []
    for k in range(12):  # a different scene every 3 frames
        clip += pan(rng, tex_a if k % 2 == 0 else tex_b, 3, x0=k * 10)
    cuts = detect(clip, min_shot_frames=8)[0].cuts
    assert cuts, "alternating scenes should still give some cuts"
    assert np.all(np.diff([0] + cuts) >= 8)
    assert len(detect(clip, min_shot_frames=1)[0].cuts) == 11


def test_sampler_memory_is_bounded_and_picks_span_the_shot():
    sampler = ShotSampler(max_keep=16, pick=3)
    most_held = 0
    for i in range(10_000):
        sampler.push(i)
        most_held = max(most_held, sampler.held)
    assert most_held <= 16
    picked = sampler.take()
    assert len(picked) == 3
    first, middle, last = picked
    assert first == 0
    assert last == 9_999
    assert abs(middle - 5_000) <= 1_000
    assert sampler.count == 0 and sampler.held == 0


def test_sampler_resets_and_handles_short_shots():
    sampler = ShotSampler(max_keep=8, pick=3)
    assert sampler.take() == []
    for i in range(100):
        sampler.push(("old", i))
    sampler.take()
    for i in range(2):
        sampler.push(("new", i))
    assert sampler.take() == [("new", 0), ("new", 1)]
    for i in range(7):
        sampler.push(i)
    assert sampler.take() == [0, 3, 6]
    sampler = ShotSampler(max_keep=16, pick=5)
    for i in range(1000):
        sampler.push(i)
    picked = sampler.take()
    assert picked == sorted(picked) and len(picked) == 5
    assert picked[0] == 0 and picked[-1] == 999
    assert np.all(np.diff(picked) >= 150)
