"""Shared fixtures for the metric tests: one small phantom OCT data set and one cache folder per
session, so the domain encoder is trained once."""

import pytest
import torch

# the test machines share two cores between jobs; one intra-op thread is several times faster
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def oct_data():
    from synthbench.data.source import load_data

    return load_data("phantom:oct?n=400&size=32")


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    from synthbench.metrics.cache import FeatureCache

    return FeatureCache(tmp_path_factory.mktemp("metrics-cache"))


@pytest.fixture(scope="session")
def domain(oct_data, cache):
    from synthbench.metrics.features import DomainExtractor

    return DomainExtractor.create(oct_data.train, cache=cache, seed=0)


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    """A torch-fidelity-format Inception state dict from a randomly initialised network of the
    right architecture (torch-fidelity would otherwise download the real weights), initialised so
    its pool features are of order 1 rather than vanishing."""
    from unittest import mock

    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    torch.manual_seed(0)
    with (
        mock.patch.object(
            tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None
        ),
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None),
    ):
        net = tf_inception.FeatureExtractorInceptionV3("random-inception", ["2048"])
    for module in net.modules():  # He init keeps activations O(1) through the 90-odd layers
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = (
        tmp_path_factory.mktemp("cache") / "weights" / "weights-inception-2015-12-05-6726825d.pth"
    )
    path.parent.mkdir()
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def clean_fid_like():
    """A writer of small TorchScript files with the interface of clean-fid's / StyleGAN's
    ``inception-2015-12-05.pt`` (see :func:`write_clean_fid_like`)."""
    return write_clean_fid_like


def write_clean_fid_like(path, width: int = 2048, size: int = 75):
    """Builds a TorchScript file with the interface of clean-fid's / StyleGAN's
    ``inception-2015-12-05.pt``: ``forward(images 0-255, return_features)`` resizes inside and
    scales to [-1, 1]; ``layers`` takes [-1, 1] images already at the input size (what clean-fid
    calls in its clean mode). ``width`` features (the real file: 2048)."""

    class Layers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, width, kernel_size=5, stride=4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.avg_pool2d(x, 3)  # cheap at 299 px
            return torch.tanh(self.conv(x)).mean(dim=(2, 3))

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = Layers()
            self.size = size

        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            x = torch.nn.functional.interpolate(
                x, size=(self.size, self.size), mode="bilinear", align_corners=False
            )
            f = self.layers((x - 128) / 128)
            if return_features:
                return f
            return f[:, :1008]

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(Net()).save(str(path))
    return path
