"""Feature extractors: Inception from a local file (present / absent), local timm and
transformers folders, the domain encoder's cache."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from synthbench.errors import SynthbenchError
from synthbench.metrics.frechet import FrechetDistance


def test_inception_from_local_file_gives_fid(oct_data, inception_weights, tmp_path, monkeypatch):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from synthbench.metrics.cache import FeatureCache
    from synthbench.metrics.evaluate import EvalSettings, evaluate

    # legacy mode: the network resizes its input to 299 px; 75 px (its smallest) keeps this test
    # to seconds on a shared CPU and changes nothing in how the file is found, loaded and used
    # (test_clean_fid.py runs the clean mode at the full 299 px)
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    small = oct_data.test.subset(np.arange(5))
    real = type(oct_data)(oct_data.spec, small, small, small)
    settings = EvalSettings(
        extractor="inception",
        extractor_path=str(inception_weights),
        resize="legacy",
        cache_dir=tmp_path,
        breakdown=False,
    )
    result = evaluate(real, oct_data.val.subset(np.arange(5)), ["fd", "is"], settings)
    row = result.rows[0]
    assert row.metric == "fd" and row.value > 0 and np.isfinite(row.value)
    assert row.feature_extractor.startswith("inception-") and row.feature_extractor.endswith(
        "-legacy"
    )
    # the Inception-style score uses the domain classifier, not the chosen extractor, and its
    # rows say so
    is_rows = [r for r in result.rows if r.metric in ("is", "is_std")]
    assert is_rows and all(r.feature_extractor.startswith("domain-") for r in is_rows)
    # the default location (<cache>/weights/<torch-fidelity file name>) is found too
    from synthbench.metrics.inception import resolve_weights

    monkeypatch.delenv("SYNTHBENCH_INCEPTION_WEIGHTS", raising=False)
    assert (
        resolve_weights(None, FeatureCache(inception_weights.parent.parent).root)
        == inception_weights
    )


def test_inception_missing_is_one_clear_line(tmp_path, monkeypatch):
    from synthbench.metrics.inception import InceptionExtractor

    monkeypatch.delenv("SYNTHBENCH_INCEPTION_WEIGHTS", raising=False)
    from synthbench.metrics.cache import FeatureCache

    with pytest.raises(SynthbenchError) as err:
        InceptionExtractor.create(None, cache=FeatureCache(tmp_path))
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "weights" / "weights-inception-2015-12-05-6726825d.pth") in message
    assert "inception-2015-12-05.pt" in message  # the clean-fid alternative


def test_transformers_folder_encoder(tmp_path):
    from transformers import ViTConfig, ViTModel

    from synthbench.metrics.local_encoder import LocalEncoder

    torch.manual_seed(0)
    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    ViTModel(cfg).save_pretrained(tmp_path / "vit")
    enc = LocalEncoder.create(None, path=str(tmp_path / "vit"))
    images = np.random.default_rng(0).integers(0, 256, (5, 1, 32, 32), dtype=np.uint8)
    feats = enc(images)
    assert feats.shape == (5, 32) and np.isfinite(feats).all()
    assert enc.identity.startswith("local-")


def test_local_needs_a_folder(tmp_path):
    from synthbench.metrics.local_encoder import LocalEncoder

    with pytest.raises(SynthbenchError, match="--extractor-path"):
        LocalEncoder.create(None)
    (tmp_path / "m").mkdir()
    with pytest.raises(SynthbenchError, match=r"config\.json"):
        LocalEncoder.create(None, path=str(tmp_path / "m"))


def test_domain_encoder_is_cached_and_deterministic(oct_data, domain, cache):
    from synthbench.metrics.features import DomainExtractor

    hits = cache.hits
    again = DomainExtractor.create(oct_data.train, cache=cache, seed=0)
    assert cache.hits == hits + 1
    assert again.identity == domain.identity
    np.testing.assert_allclose(again(oct_data.test.images), domain(oct_data.test.images), atol=1e-6)
    other_seed = DomainExtractor.create(
        oct_data.train, cache=cache.__class__(enabled=False), seed=1
    )
    assert other_seed.identity != domain.identity


def test_fd_stream_over_extractor_batches(oct_data, domain):
    feats = domain(oct_data.test.images)
    fd = FrechetDistance()
    fd.update(domain(oct_data.train.images), real=True)
    for chunk in np.array_split(feats, 3):
        fd.update(chunk, real=False)
    whole = FrechetDistance()
    whole.update(domain(oct_data.train.images), real=True)
    whole.update(feats, real=False)
    assert fd.compute() == pytest.approx(whole.compute(), rel=1e-9)


def test_clean_fid_torchscript_file_is_read(oct_data, clean_fid_like, tmp_path, monkeypatch):
    from synthbench.metrics.cache import FeatureCache
    from synthbench.metrics.evaluate import EvalSettings, evaluate
    from synthbench.metrics.inception import CLEAN_FID_FILE, InceptionExtractor, resolve_weights

    monkeypatch.delenv("SYNTHBENCH_INCEPTION_WEIGHTS", raising=False)
    weights = clean_fid_like(
        (tmp_path / "weights").mkdir() or tmp_path / "weights" / CLEAN_FID_FILE
    )
    # found under its own name in the default folder when the torch-fidelity file is absent
    assert resolve_weights(None, FeatureCache(tmp_path).root) == weights
    extractor = InceptionExtractor(weights, resize="legacy")
    images = oct_data.test.images[:6]  # grayscale: replicated to 3 channels
    features = extractor(images)
    assert features.shape == (6, 2048) and features.dtype == np.float64
    net = torch.jit.load(str(weights))
    x = torch.from_numpy(np.repeat(images, 3, axis=1)).float()
    with torch.no_grad():
        expected = net(x, return_features=True).double().numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    settings = EvalSettings(
        extractor="inception", resize="legacy", cache_dir=tmp_path, breakdown=False
    )
    small = oct_data.test.subset(np.arange(8))
    real = type(oct_data)(oct_data.spec, small, small, small)
    (row,) = evaluate(real, oct_data.val.subset(np.arange(8)), ["fd"], settings).rows
    assert row.feature_extractor == extractor.identity and np.isfinite(row.value)
    # the default is clean-fid's resizing, and the rows say which
    (clean,) = evaluate(
        real, oct_data.val.subset(np.arange(8)), ["fd"], replace(settings, resize=None)
    ).rows
    assert clean.feature_extractor == extractor.identity.replace("-legacy", "-clean")
    assert clean.value != pytest.approx(row.value, rel=1e-3)
    with pytest.raises(SynthbenchError, match="resize mode 'bicubic' is not one of clean, legacy"):
        InceptionExtractor(weights, resize="bicubic")


def test_domain_encoder_trained_on_other_data(tmp_path):
    """extractor_data: the domain extractor learns from another simulation of the modality (its
    identity, in every row, says so); data without the modality, or holding real validation or
    test images, is refused in one line."""
    from synthbench.data.source import load_data
    from synthbench.metrics.evaluate import EvalSettings, evaluate

    real = load_data("phantom:oct?n=120&size=16")
    synthetic = load_data("phantom:oct?n=60&size=16&seed=5").train
    rows = {}
    for other in (None, "phantom:oct?n=200&size=16&seed=9"):
        settings = EvalSettings(extractor_data=other, reference_split="test", cache_dir=tmp_path)
        result = evaluate(real, synthetic, ["fd"], settings)
        rows[other] = result.rows[0]
    assert (
        rows[None].feature_extractor != rows["phantom:oct?n=200&size=16&seed=9"].feature_extractor
    )
    assert rows[None].value != rows["phantom:oct?n=200&size=16&seed=9"].value
    bad = {
        "phantom:fundus?n=60&size=16": "has no oct images",
        # the same patients split otherwise: its training split holds real test images
        "phantom:oct?n=120&size=16&split=0.9,0.05,0.05": "of the real validation or test images",
    }
    for spec, needle in bad.items():
        with pytest.raises(SynthbenchError, match=needle) as info:
            evaluate(real, synthetic, ["fd"], EvalSettings(extractor_data=spec, cache_dir=tmp_path))
        assert "\n" not in str(info.value)


def test_autoencoder_learns_to_reconstruct_and_is_cached(oct_data, cache):
    """The autoencoder's reconstructions of held-out images are closer than the training images'
    mean image is (on the speckled OCT phantom at 40 epochs about 0.7 of its error: speckle is
    not reconstructed); rebuilt from the cache it gives the same features; another seed is
    another network."""
    from synthbench.metrics.autoencoder import AutoencoderExtractor
    from synthbench.metrics.cache import FeatureCache
    from synthbench.nets import prepare

    extractor = AutoencoderExtractor.create(oct_data.train, cache=cache, seed=0)
    network = extractor.network
    x_train = prepare(oct_data.train.images, channels=network.channels, size=32)
    x_test = prepare(oct_data.test.images, channels=network.channels, size=32)
    mean_image_error = float(((x_test - x_train.mean(dim=0)) ** 2).mean())
    error = network.reconstruction_error(oct_data.test.images)
    assert error.shape == (len(oct_data.test),)
    assert error.mean() < 0.8 * mean_image_error, (error.mean(), mean_image_error)

    hits = cache.hits
    again = AutoencoderExtractor.create(oct_data.train, cache=cache, seed=0)
    assert cache.hits == hits + 1 and again.identity == extractor.identity
    np.testing.assert_array_equal(again(oct_data.test.images), extractor(oct_data.test.images))
    other = AutoencoderExtractor.create(oct_data.train, cache=FeatureCache(enabled=False), seed=1)
    assert other.identity != extractor.identity


def test_autoencoder_trains_on_extractor_data_where_inception_may_not(tmp_path):
    """extractor_data reaches the autoencoder (its identity in the rows says which images it
    learnt from); an extractor that does not train refuses it in one line."""
    from synthbench.data.source import load_data
    from synthbench.metrics.autoencoder import AutoencoderConfig
    from synthbench.metrics.evaluate import EvalSettings, check_extractor_data, evaluate

    real = load_data("phantom:oct?n=120&size=16")
    synthetic = load_data("phantom:oct?n=60&size=16&seed=5").train
    names = set()
    for other in (None, "phantom:oct?n=200&size=16&seed=9"):
        settings = EvalSettings(
            extractor="autoencoder",
            extractor_data=other,
            reference_split="test",
            cache_dir=tmp_path,
        )
        row = evaluate(real, synthetic, ["fd"], settings).rows[0]
        assert row.feature_extractor.startswith("autoencoder-") and row.value > 0
        names.add(row.feature_extractor)
    assert len(names) == 2
    check_extractor_data("autoencoder")
    with pytest.raises(SynthbenchError, match="only extractors that train on data") as info:
        check_extractor_data("inception")
    assert "\n" not in str(info.value)
    with pytest.raises(SynthbenchError, match="power of two"):
        AutoencoderConfig(input_size=24)
