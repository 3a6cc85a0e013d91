"""On phantom OCT, for each extractor: real test is closest to real train; blur and noise push
FD up step by step; noise lowers precision; dropping half the classes lowers coverage."""

import itertools

import numpy as np
import pytest
import torch

from synthbench.metrics.corruptions import BLUR_SIGMAS, NOISE_STDS
from synthbench.metrics.corruptions import gaussian_blur as blur
from synthbench.metrics.corruptions import gaussian_noise as noise
from synthbench.metrics.frechet import frechet_distance_of_features as _fd
from synthbench.metrics.prdc import precision_recall_density_coverage


@pytest.fixture(scope="module")
def timm_encoder(tmp_path_factory):
    """A randomly initialised tiny timm ResNet saved as a local folder: the 'local' extractor."""
    from timm import create_model
    from timm.models import save_for_hf

    from synthbench.metrics.local_encoder import LocalEncoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("timm-encoder")
    save_for_hf(
        create_model("test_resnet", num_classes=0),
        str(folder),
        safe_serialization=True,
        data_config={"input_size": (3, 32, 32)},
    )
    return LocalEncoder.create(None, path=str(folder))


@pytest.fixture(params=["domain", "local"])
def extractor(request, domain, timm_encoder):
    return {"domain": domain, "local": timm_encoder}[request.param]


def test_fd_smallest_for_real_and_monotone_in_blur_and_noise(oct_data, extractor):
    train = extractor(oct_data.train.images)
    test = oct_data.test.images
    clean = _fd(train, extractor(test))
    blurred = [_fd(train, extractor(blur(test, s))) for s in BLUR_SIGMAS]
    noisy = [_fd(train, extractor(noise(test, s))) for s in NOISE_STDS]
    assert clean < blurred[0] and clean < noisy[0], (clean, blurred, noisy)
    assert all(a < b for a, b in itertools.pairwise(blurred)), blurred
    assert all(a < b for a, b in itertools.pairwise(noisy)), noisy


def test_precision_falls_with_noise_and_coverage_with_missing_classes(oct_data, extractor):
    train = extractor(oct_data.train.images)
    test = oct_data.test
    clean = precision_recall_density_coverage(train, extractor(test.images))
    noisy = precision_recall_density_coverage(train, extractor(noise(test.images, NOISE_STDS[-1])))
    assert noisy["precision"] < clean["precision"] - 0.1, (clean, noisy)
    half = test.subset(np.flatnonzero(test.label < 2))  # normal and drusen only
    halved = precision_recall_density_coverage(train, extractor(half.images))
    assert halved["coverage"] < clean["coverage"] - 0.1, (clean, halved)
