"""Training samples: archive-film degradations, hints drawn from the truth, fair sampling, crops (no TensorFlow)."""

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from vidcolor.model import hints
from vidcolor.training import augment
from vidcolor.color import lightness, rgb_to_lab
from vidcolor.training.dataset import ImageSet, SampleSettings, nearest_neighbours, resized_crop, source_balanced_probabilities


@pytest.fixture(scope="module")
def light():
    return lightness(skimage.data.astronaut()[::2, ::2])


@pytest.mark.parametrize("degradation", [d for d, _ in augment.DEGRADATIONS], ids=lambda d: d.__name__)
def test_each_degradation_changes_the_picture_within_range_and_repeats_with_its_seed(light, degradation):
    out = np.clip(degradation(light, np.random.default_rng(5)), 0, 100)
    again = np.clip(degradation(light, np.random.default_rng(5)), 0, 100)
    assert out.shape == light.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, again)
    assert np.abs(out - light).mean() > 0.05


def test_degradations_do_what_they_say(light):
    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 50.0, np.float32)
    assert augment.grain(flat, rng).std() > 0.5  # noise where there was none
    edges = lambda x: np.abs(np.diff(x, axis=1)).mean()
    assert edges(augment.blur(light, rng)) < 0.8 * edges(light)  # softer
    vignetted = augment.vignette(flat, rng)
    assert vignetted[0, 0] < vignetted[32, 32] - 2  # darker corners
    specks = augment.dust_and_scratches(flat, rng)
    assert ((specks < 20) | (specks > 80)).sum() > 0  # dark or bright specks on a mid grey
    assert augment.compression(light, rng).shape == light.shape


def test_degrade_leaves_clean_samples_alone_and_stays_in_range(light):
    np.testing.assert_array_equal(augment.degrade(light, np.random.default_rng(1), probability=0.0), light)
    changed = 0
    for seed in range(20):
        out = augment.degrade(light, np.random.default_rng(seed), probability=1.0)
        assert out.min() >= 0 and out.max() <= 100
        changed += np.abs(out - light).mean() > 0.05
    assert changed >= 15


def test_hints_from_the_truth_are_patches_of_its_mean_color():
    ab = rgb_to_lab(skimage.data.coffee()[::4, ::4])[..., 1:]
    counts = []
    for seed in range(200):
        given = hints.sample_from_truth(ab, np.random.default_rng(seed))
        mask = given[..., 2]
        assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() >= 1
        assert np.all(given[..., :2][mask == 0] == 0)
        assert np.abs(given[..., :2][mask == 1]).max() <= np.abs(ab).max() + 1e-3
        counts.append(mask.sum())
    assert 8 < np.median(counts) < 400  # a handful of small patches, not the picture
    one = hints.sample_from_truth(np.full((20, 20, 2), [30.0, -20.0], np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(one[one[..., 2] == 1][:, :2], [[30.0, -20.0]] * int(one[..., 2].sum()))


def test_placed_hints_sit_where_asked():
    given = hints.place(40, 60, [(0.0, 0.0, (10.0, 20.0)), (1.0, 0.5, (-5.0, 5.0))], size=3)
    assert given[0, 0, 2] == 1 and tuple(given[0, 0, :2]) == (10.0, 20.0)
    assert given[20, 59, 2] == 1 and tuple(given[20, 59, :2]) == (-5.0, 5.0)
    assert given[..., 2].sum() == 4 + 6  # clipped at the corner and at the edge
    assert np.all(given[30:, :30] == 0)


def test_sources_weigh_the_square_root_of_their_size():
    root = Path("/data")
    files = [root / "cats" / f"{i}.jpg" for i in range(100)] + [root / "bees" / f"{i}.jpg" for i in range(4)]
    p = source_balanced_probabilities(files, root)
    assert p.sum() == pytest.approx(1.0)
    assert p[:100].sum() / p[100:].sum() == pytest.approx(10 / 2)  # not 100 / 4
    assert np.all(p[:100] == p[0]) and np.all(p[100:] == p[100])


def test_crops_are_resized_first_so_they_hold_the_picture_not_a_patch_of_it():
    import cv2

    image = skimage.data.astronaut()  # 512 x 512
    whole = cv2.resize(image, (192, 192), interpolation=cv2.INTER_AREA)
    for seed in range(4):
        crop = resized_crop(image, 192, 1.0, np.random.default_rng(seed))  # no zoom: the whole square picture
        assert crop.shape == (192, 192, 3)
        assert min(np.abs(crop.astype(int) - whole).mean(), np.abs(crop[:, ::-1].astype(int) - whole).mean()) == 0
    wide = resized_crop(image[:128], 64, 1.3, np.random.default_rng(0))  # 128 x 512: short side to 64..83
    assert wide.shape == (64, 64, 3)
    tiny = resized_crop(image[:50, :80], 64, 1.0, np.random.default_rng(0))
    assert tiny.shape == (64, 64, 3)


def test_nearest_neighbours_are_the_most_similar_others_as_a_full_sort_finds_them():
    embeddings = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    unit = embeddings - embeddings.mean(0)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    np.testing.assert_array_equal(nearest_neighbours(embeddings, k=5, chunk=7), np.argsort(-similarity, axis=1)[:, :5])


@pytest.fixture
def flat_photos(tmp_path):
    """Eight one-colour photos with made-up cached embeddings (the cache spares the embedder)."""
    import json

    import cv2

    root, cache = tmp_path / "photos", tmp_path / "cache"
    root.mkdir()
    cache.mkdir()
    hues = np.linspace(0, 170, 8).astype(np.uint8)
    for i, hue in enumerate(hues):
        bgr = cv2.cvtColor(np.full((40, 40, 3), (hue, 200, 160), np.uint8), cv2.COLOR_HSV2BGR)
        cv2.imwrite(str(root / f"p{i}.png"), bgr)
    files = sorted(root.glob("*.png"))
    np.save(cache / "efficientnet_lite0.npy", np.random.default_rng(1).normal(size=(8, 1000)).astype(np.float32))
    (cache / "efficientnet_lite0.json").write_text(json.dumps(["efficientnet_lite0"] + [f"{f.name}:{f.stat().st_size}" for f in files]))
    return ImageSet(root, cache, "efficientnet_lite0")


def test_the_cache_is_found_by_another_path_to_the_same_photos(flat_photos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the photos as a relative path now: the made-up embeddings, not computed ones
    again = ImageSet(Path("photos"), Path("cache"), "efficientnet_lite0")
    np.testing.assert_array_equal(again.embeddings, flat_photos.embeddings)


@pytest.mark.parametrize("swap", [0.0, 1.0])
def test_a_swapped_sample_gets_a_look_alike_embedding_never_its_own(flat_photos, swap):
    data = flat_photos
    colours = np.stack([rgb_to_lab(image)[0, 0, 1:] for image in data.images])
    inputs, targets = data.batch(np.random.default_rng(0), 32, SampleSettings(crop=32, degrade=0.0, embedding_swap=swap))
    for embedding, target in zip(inputs["embedding"], targets):
        photo = np.argmin(np.abs(colours - target[0, 0]).sum(1))  # which photo the sample was cut from
        [source] = np.flatnonzero((data.embeddings == embedding).all(1))
        if swap:
            assert source != photo and source in data.neighbours[photo]
        else:
            assert source == photo


def test_one_photo_has_no_look_alike_to_swap_with(flat_photos):
    from vidcolor.errors import InputError

    data = flat_photos
    data.embeddings = data.embeddings[:1]
    with pytest.raises(InputError, match="two photos or more"):
        data.batch(np.random.default_rng(0), 2, SampleSettings(crop=32, embedding_swap=1.0))
