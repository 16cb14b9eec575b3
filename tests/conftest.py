import pytest


@pytest.fixture(scope="session", autouse=True)
def fresh_cache(tmp_path_factory):
    """The same settings on every machine, for the whole run (subprocesses included): VIDCOLOR_CACHE in a
    new folder, so every run converts the PyTorch embedder to Keras afresh instead of trusting a cache
    left by an earlier version; no VIDCOLOR_WEIGHTS or VIDCOLOR_PRECISION of the user's (the tests
    check the shipped model, and the precision the machine calls for unless a test asks for one)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("vidcolor-cache")
        patch.setenv("VIDCOLOR_CACHE", str(folder))
        patch.delenv("VIDCOLOR_WEIGHTS", raising=False)
        patch.delenv("VIDCOLOR_PRECISION", raising=False)
        yield folder


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A weights file + config of an untrained colorizer: the real loading path, no training."""
    import keras

    from vidcolor.model import chroma_bins
    from vidcolor.model import ModelConfig, build_colorizer, save

    keras.utils.set_random_seed(3)
    centres = chroma_bins.in_gamut_bins()
    config = ModelConfig(head="classification", bins=centres.tolist())
    return save(build_colorizer(config), config, tmp_path_factory.mktemp("weights") / "random.weights.h5")
