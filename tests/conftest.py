import pytest


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A weights file + config of an untrained colorizer: the real loading path, no training."""
    import keras

    from vidcolor import chroma_bins
    from vidcolor.model import ModelConfig, build_colorizer, save

    keras.utils.set_random_seed(3)
    centres = chroma_bins.in_gamut_bins()
    config = ModelConfig(head="classification", bins=centres.tolist())
    return save(build_colorizer(config), config, tmp_path_factory.mktemp("weights") / "random.weights.h5")
