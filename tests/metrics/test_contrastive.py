"""The ``contrastive`` feature extractor: an embedding that tells every training image from every
other, and whose FD sees what a modality's images hold (structure, blur) beside the floor of two
real sets."""

from __future__ import annotations

import numpy as np
import pytest

from synthbench.errors import SynthbenchError

SMALL = {"width": 16, "epochs": 15, "batch_size": 64}


@pytest.fixture(scope="module")
def contrastive(oct_data, cache):
    from synthbench.metrics.contrastive import ContrastiveConfig, ContrastiveExtractor

    return ContrastiveExtractor.create(
        oct_data.train, cache=cache, seed=0, config=ContrastiveConfig(**SMALL)
    )


def _shuffled(images: np.ndarray, seed: int) -> np.ndarray:
    """Each image's pixels permuted: its grey levels kept, its structure gone."""
    rng = np.random.default_rng(seed)
    flat = images.reshape(len(images), images.shape[1], -1).copy()
    for i in range(len(flat)):
        flat[i] = flat[i][:, rng.permutation(flat.shape[-1])]
    return flat.reshape(images.shape)


def _blurred(images: np.ndarray) -> np.ndarray:
    """A 3x3 box blur (edges repeated)."""
    x = np.pad(images.astype(float), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = images.shape[-2:]
    out = sum(x[..., i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9
    return np.round(out).astype(np.uint8)


def test_contrastive_features_are_normalised_cached_and_seeded(oct_data, cache, contrastive):
    from synthbench.metrics.contrastive import ContrastiveConfig, ContrastiveExtractor
    from synthbench.metrics.evaluate import get_extractor

    assert get_extractor("contrastive") is ContrastiveExtractor
    features = contrastive(oct_data.test.images)
    assert features.shape == (len(oct_data.test), 64) and features.dtype == np.float64
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0)
    # the same rows whatever the batching, and for 3-channel copies of the images
    parts = [contrastive(oct_data.test.images[i : i + 7]) for i in range(0, len(oct_data.test), 7)]
    np.testing.assert_allclose(np.concatenate(parts), features, atol=1e-6)
    rgb = np.repeat(oct_data.test.images, 3, axis=1)
    np.testing.assert_allclose(contrastive(rgb), features, atol=1e-5)

    hits = cache.hits
    again = ContrastiveExtractor.create(
        oct_data.train, cache=cache, seed=0, config=ContrastiveConfig(**SMALL)
    )
    assert cache.hits == hits + 1 and again.identity == contrastive.identity
    assert contrastive.identity.startswith("contrastive-")
    np.testing.assert_array_equal(again(oct_data.test.images), features)
    other = ContrastiveExtractor.create(oct_data.train, seed=1, config=ContrastiveConfig(**SMALL))
    assert other.identity != contrastive.identity


def test_contrastive_fd_sees_structure_and_blur_beyond_the_floor(oct_data, contrastive):
    """Held-out real images are near the training images (the floor); the same held-out images
    with their pixels permuted (the grey levels kept) are far beyond that floor, and a 3x3 blur of
    them is beyond it too (on the speckled OCT phantom about 40 and 2.6 times the floor)."""
    from synthbench.metrics.frechet import frechet_distance_of_features

    train = contrastive(oct_data.train.images)
    held_out = np.concatenate([oct_data.val.images, oct_data.test.images])

    def fd(images: np.ndarray) -> float:
        return frechet_distance_of_features(train, contrastive(images))

    floor, shuffled, blurred = fd(held_out), fd(_shuffled(held_out, 0)), fd(_blurred(held_out))
    assert shuffled > 10 * floor, (shuffled, floor)
    assert blurred > 1.5 * floor, (blurred, floor)
    assert shuffled > 5 * blurred, (shuffled, blurred)


def test_contrastive_trains_on_extractor_data_in_evaluate(tmp_path):
    """extractor_data reaches it through evaluate: the rows' extractor names which images it
    learnt from."""
    from synthbench.data.source import load_data
    from synthbench.metrics.evaluate import EvalSettings, check_extractor_data, evaluate

    real = load_data("phantom:oct?n=120&size=16")
    synthetic = load_data("phantom:oct?n=60&size=16&seed=5").train
    names = set()
    for other in (None, "phantom:oct?n=160&size=16&seed=9"):
        settings = EvalSettings(
            extractor="contrastive",
            extractor_data=other,
            reference_split="test",
            cache_dir=tmp_path,
        )
        row = evaluate(real, synthetic, ["fd"], settings).rows[0]
        assert row.feature_extractor.startswith("contrastive-") and row.value > 0
        names.add(row.feature_extractor)
    assert len(names) == 2
    check_extractor_data("contrastive")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"path": "weights.pt"}, "takes no --extractor-path"),
        ({"resize": "clean"}, "applies to the inception extractor only"),
    ],
)
def test_contrastive_refuses_options_it_has_not_in_one_line(oct_data, kwargs, needle):
    from synthbench.metrics.contrastive import ContrastiveExtractor

    with pytest.raises(SynthbenchError, match=needle) as info:
        ContrastiveExtractor.create(oct_data.train, **kwargs)
    assert "\n" not in str(info.value)


def test_contrastive_refuses_bad_images_and_settings(contrastive):
    from synthbench.metrics.contrastive import ContrastiveConfig, TrainedContrastive

    with pytest.raises(SynthbenchError, match="uint8 images"):
        contrastive(np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(SynthbenchError, match="1 or 3-channel images, got 2"):
        contrastive(np.zeros((2, 2, 32, 32), np.uint8))
    with pytest.raises(SynthbenchError, match="at least 2 training images, got 1"):
        TrainedContrastive.fit(np.zeros((1, 1, 16, 16), np.uint8), ContrastiveConfig())
    with pytest.raises(SynthbenchError, match="at least 8 px"):
        ContrastiveConfig(input_size=4)
    with pytest.raises(SynthbenchError, match="share of views"):
        ContrastiveConfig(blur=1.5)
