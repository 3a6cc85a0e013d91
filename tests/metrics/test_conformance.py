"""Every built-in metric and feature extractor against its contract: declared direction, finite
typed scores, determinism under a seed, batching that does not matter, bad input refused in one
line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbench.errors import SynthbenchError
from synthbench.metrics.base import EvalContext, QualityMetric, Score
from synthbench.metrics.features import FeatureExtractor
from synthbench.registry import builtin_names, feature_extractors, metrics

METRIC_NAMES = builtin_names(metrics)
EXTRACTOR_NAMES = builtin_names(feature_extractors)


def test_the_design_metrics_and_extractors_are_registered():
    assert {"fd", "kd", "prdc", "is", "diversity", "memorisation", "cas"} <= set(METRIC_NAMES)
    assert {"prompt-adherence", "retrieval"} <= set(METRIC_NAMES)
    assert set(EXTRACTOR_NAMES) == {"domain", "inception", "local", "autoencoder", "contrastive"}


def _declares_direction(cls: type) -> bool:
    for klass in cls.__mro__:
        if klass is QualityMetric:
            return False
        if "higher_is_better" in vars(klass):
            return True
    return False


def _values(scores):
    return {(s.metric, tuple(sorted(s.qualifiers.items()))): s.value for s in scores}


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_metric_contract(name, oct_data, domain, cache):
    cls = metrics.get(name)
    assert issubclass(cls, QualityMetric) and cls.name == name
    assert _declares_direction(cls) and cls.higher_is_better in (True, False, None)
    assert isinstance(cls.uses_features, bool)
    synthetic = oct_data.val

    def score():
        ctx = EvalContext(real=oct_data, extractor=domain, cache=cache, seed=3)
        return cls().score(ctx, synthetic)

    scores = score()
    assert scores, f"{name} gave no scores"
    for s in scores:
        assert isinstance(s, Score) and s.metric and isinstance(s.metric, str)
        assert isinstance(s.value, float) and math.isfinite(s.value), (name, s)
        assert s.higher_is_better in (True, False, None)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in s.qualifiers.items())
        for count in (s.n_real, s.n_synth):
            assert count is None or (isinstance(count, int) and count > 0)
    keys = [(s.metric, tuple(sorted(s.qualifiers.items()))) for s in scores]
    assert len(keys) == len(set(keys)), f"{name} reports a value twice"
    assert _values(score()) == _values(scores)  # the same seed gives the same numbers


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_metric_refuses_an_empty_synthetic_set(name, oct_data, cache):
    from synthbench.metrics.evaluate import EvalSettings, evaluate

    with pytest.raises(SynthbenchError, match="synthetic cohort is empty") as err:
        evaluate(oct_data, oct_data.val.subset([]), [name], EvalSettings(cache_dir=cache.root))
    assert "\n" not in str(err.value)


@pytest.fixture
def extractor_path(request, tmp_path, clean_fid_like):
    """What each extractor is pointed at: nothing (domain), a small clean-fid-format file
    (inception), a tiny ViT folder saved with safetensors (local)."""
    name = request.param
    if name == "inception":
        return name, str(clean_fid_like(tmp_path / "inception-2015-12-05.pt", width=24))
    if name == "local":
        import torch
        from transformers import ViTConfig, ViTModel

        torch.manual_seed(0)
        config = ViTConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
        ViTModel(config).save_pretrained(tmp_path / "vit")
        return name, str(tmp_path / "vit")
    return name, None


@pytest.mark.parametrize("extractor_path", EXTRACTOR_NAMES, indirect=True)
def test_extractor_contract(extractor_path, oct_data, cache):
    name, path = extractor_path
    cls = feature_extractors.get(name)
    assert issubclass(cls, FeatureExtractor) and cls.name == name
    extractor = cls.create(oct_data.train, cache=cache, path=path, seed=0)
    again = cls.create(oct_data.train, cache=cache, path=path, seed=0)
    assert extractor.identity.startswith(f"{name}-") and extractor.identity == again.identity

    gray = oct_data.test.images[:7]
    features = extractor(gray)
    assert features.dtype == np.float64 and features.ndim == 2 and len(features) == 7
    assert np.isfinite(features).all() and features.std() > 0
    np.testing.assert_array_equal(extractor(gray), features)  # deterministic
    np.testing.assert_array_equal(again(gray), features)  # and the same when rebuilt
    np.testing.assert_allclose(extractor(gray[:3]), features[:3], rtol=1e-5, atol=1e-6)
    rgb = np.repeat(gray, 3, axis=1)
    assert extractor(rgb).shape == features.shape  # colour input gives the same width

    for bad in (gray.astype(np.float32), gray[:, 0], np.repeat(gray, 2, axis=1)):
        with pytest.raises(SynthbenchError) as err:
            extractor(bad)
        assert "\n" not in str(err.value)
    bad_resize = "bicubic" if name == "inception" else "clean"
    with pytest.raises(SynthbenchError, match="resize"):
        cls.create(oct_data.train, cache=cache, path=path, seed=0, resize=bad_resize)
