"""Our metric cores against reference implementations on the same features."""

import numpy as np
import pytest
import torch

from synthbench.metrics.distribution import inception_score
from synthbench.metrics.frechet import (
    FrechetDistance,
    GaussianStats,
    frechet_distance,
    frechet_distance_of_features,
)
from synthbench.metrics.kernel import kernel_distance, polynomial_mmd
from synthbench.metrics.ms_ssim import MSSSIMSetting, ms_ssim, ms_ssim_setting, ssim_components
from synthbench.metrics.prdc import precision_recall_density_coverage


def _features(seed, n=300, d=32, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mix * scale + shift


class _Identity(torch.nn.Module):
    """torchmetrics' custom-feature hook: the 'images' are already feature rows."""

    num_features = 32

    def forward(self, x):
        return x


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.3, 1.5), (2.0, 0.5)])
def test_fd_equals_torchmetrics_fid(shift, scale):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _features(0), _features(1, n=250, shift=shift, scale=scale)
    ref = FrechetInceptionDistance(feature=_Identity(), normalize=True).double()
    ref.update(torch.from_numpy(real), real=True)
    ref.update(torch.from_numpy(fake), real=False)
    expected = float(ref.compute())
    ours = FrechetDistance()
    for chunk in np.array_split(real, 7):  # batching must not matter
        ours.update(chunk, real=True)
    ours.update(fake, real=False)
    assert abs(ours.compute() - expected) / abs(expected) < 1e-6


def test_fd_is_zero_for_identical_sets_and_handles_rank_deficiency():
    x = _features(0, n=20, d=64)  # fewer samples than dimensions: singular covariances
    s = GaussianStats.of(x)
    assert abs(frechet_distance(s.mean, s.cov, s.mean, s.cov)) < 1e-8
    y = _features(1, n=20, d=64, shift=1.0)
    t = GaussianStats.of(y)
    assert frechet_distance(s.mean, s.cov, t.mean, t.cov) > 0


@pytest.mark.parametrize("n,m", [(20, 30), (300, 250)])
def test_fd_from_features_equals_fd_from_statistics(n, m):
    x, y = _features(0, n=n, d=64), _features(1, n=m, d=64, shift=0.5, scale=1.2)
    s, t = GaussianStats.of(x), GaussianStats.of(y)
    expected = frechet_distance(s.mean, s.cov, t.mean, t.cov)
    assert frechet_distance_of_features(x, y) == pytest.approx(expected, rel=1e-6)


def test_fd_reset_keeps_reference_when_asked():
    fd = FrechetDistance()
    fd.update(_features(0), real=True)
    fd.update(_features(1), real=False)
    first = fd.compute()
    fd.reset(real=False)
    fd.update(_features(1), real=False)
    assert fd.compute() == pytest.approx(first, rel=1e-12)


def test_kd_equals_torchmetrics_kid():
    from torchmetrics.image.kid import KernelInceptionDistance, poly_mmd

    real, fake = _features(0, n=200), _features(1, n=200, shift=0.2)
    # one subset of all samples: no randomness on either side
    ref = KernelInceptionDistance(
        feature=_Identity(), subsets=1, subset_size=200, normalize=True
    ).double()
    ref.update(torch.from_numpy(real), real=True)
    ref.update(torch.from_numpy(fake), real=False)
    expected, _ = ref.compute()
    mean, std = kernel_distance(real, fake, subsets=1, subset_size=200)
    assert abs(mean - float(expected)) / abs(float(expected)) < 1e-6
    assert std == 0.0
    # the same random subsets, given to both
    rng = np.random.default_rng(3)
    for _ in range(5):
        i, j = rng.choice(200, 50, replace=False), rng.choice(200, 50, replace=False)
        exp = float(poly_mmd(torch.from_numpy(real[i]), torch.from_numpy(fake[j])))
        assert abs(polynomial_mmd(real[i], fake[j]) - exp) / abs(exp) < 1e-6


def test_kd_subsets_give_a_std():
    mean, std = kernel_distance(
        _features(0), _features(1, shift=0.5), subsets=20, subset_size=50, seed=1
    )
    assert mean > 0 and std > 0
    assert kernel_distance(
        _features(0), _features(1, shift=0.5), subsets=20, subset_size=50, seed=1
    ) == (mean, std)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("chunk", [2048, 7])
def test_prdc_equals_prdc_package(k, chunk, monkeypatch):
    """Also when the distances are computed in chunks much smaller than either set."""
    from prdc import compute_prdc

    from synthbench.metrics import prdc as ours_module

    monkeypatch.setattr(ours_module, "_CHUNK", chunk)
    real, fake = _features(0, n=200, d=16), _features(1, n=150, d=16, shift=0.4, scale=1.3)
    expected = compute_prdc(real, fake, nearest_k=k)
    ours = precision_recall_density_coverage(real, fake, k=k)
    for name in ("precision", "recall", "density", "coverage"):
        assert ours[name] == pytest.approx(float(expected[name]), abs=1e-12), name


def _smooth_images(seed, n=6, size=32):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((n, 1, size, size)))
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1).numpy()


def test_ms_ssim_components_equal_torchmetrics_at_every_scale():
    from torchmetrics.functional.image.ssim import _ssim_update

    a, b = _smooth_images(0), _smooth_images(1)
    b = 0.6 * a + 0.4 * b  # related images, so the terms are far from 0
    # torchmetrics sizes its gaussian as int(3.5 sigma + 0.5) * 2 + 1 taps: 7 for sigma 0.8
    setting = MSSSIMSetting(kernel_size=7, sigma=0.8, weights=(0.2, 0.3, 0.5))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    pad = 3
    for _ in range(3):
        sim, cs = ssim_components(ta, tb, setting)
        _, ref_map = _ssim_update(
            ta, tb, kernel_size=7, sigma=0.8, data_range=1.0, return_full_image=True
        )
        _, ref_cs = _ssim_update(
            ta, tb, kernel_size=7, sigma=0.8, data_range=1.0, return_contrast_sensitivity=True
        )
        # torchmetrics pads by reflection; its interior is our 'valid' map
        interior = ref_map[..., pad:-pad, pad:-pad]
        assert torch.allclose(sim, interior, atol=1e-10)
        assert torch.allclose(cs.mean(dim=(-2, -1)).squeeze(1), ref_cs, atol=1e-10)
        ta, tb = torch.nn.functional.avg_pool2d(ta, 2), torch.nn.functional.avg_pool2d(tb, 2)


def test_ms_ssim_close_to_torchmetrics_and_truly_multiscale():
    from torchmetrics.functional.image import (
        multiscale_structural_similarity_index_measure as tm_ms_ssim,
    )

    a, b = _smooth_images(0, size=64), _smooth_images(1, size=64)
    b = 0.7 * a + 0.3 * b
    setting = MSSSIMSetting(kernel_size=7, sigma=0.8, weights=(0.2, 0.3, 0.5))
    ours = ms_ssim(a, b, setting)
    ref = tm_ms_ssim(
        torch.from_numpy(a),
        torch.from_numpy(b),
        kernel_size=7,
        sigma=0.8,
        data_range=1.0,
        betas=(0.2, 0.3, 0.5),
        reduction="none",
    )
    # identical contrast terms; torchmetrics' coarsest luminance term also averages its padded border
    assert np.allclose(ours, ref.numpy(), atol=0.02)
    single = ms_ssim(a, b, MSSSIMSetting(kernel_size=7, sigma=0.8, weights=(1.0,)))
    assert not np.allclose(ours, single, atol=1e-3)  # three scales are not one
    assert np.allclose(ms_ssim(a, a, setting), 1.0)


def test_ms_ssim_setting_by_size():
    assert len(ms_ssim_setting(256).weights) == 5 and ms_ssim_setting(256).kernel_size == 11
    assert len(ms_ssim_setting(32).weights) == 3 and sum(
        ms_ssim_setting(32).weights
    ) == pytest.approx(1.0)
    assert len(ms_ssim_setting(16).weights) == 2
    with pytest.raises(ValueError, match="at least"):
        ms_ssim_setting(8)


def test_inception_score_hand_computed():
    confident = np.eye(4)[np.arange(40) % 4]  # every image sure of one class, classes balanced
    mean, _ = inception_score(confident, splits=1)
    assert mean == pytest.approx(4.0, rel=1e-6)
    uniform = np.full((40, 4), 0.25)
    assert inception_score(uniform, splits=1)[0] == pytest.approx(1.0)


def _scipy_fd(x, y):
    """The textbook computation: sample statistics and scipy's matrix square root of S1 S2."""
    import warnings

    import scipy.linalg

    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    with warnings.catch_warnings():  # S1 S2 is singular here; sqrtm says so but is accurate
        warnings.simplefilter("ignore")
        root = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


@pytest.mark.parametrize("n,m", [(10, 12), (20, 30), (40, 50)])
def test_fd_small_sample_path_equals_scipy_and_clean_fid(n, m):
    from cleanfid.fid import frechet_distance as clean_fid_frechet

    x, y = _features(0, n=n, d=64), _features(1, n=m, d=64, shift=0.5, scale=1.2)
    assert min(n, m) < x.shape[1]  # the nuclear-norm (SVD) path, not the d x d one
    ours = frechet_distance_of_features(x, y)
    assert ours == pytest.approx(_scipy_fd(x, y), rel=1e-6)
    stats = [(f.mean(axis=0), np.cov(f, rowvar=False)) for f in (x, y)]
    assert ours == pytest.approx(clean_fid_frechet(*stats[0], *stats[1]), rel=1e-6)


def test_evaluate_fd_equals_a_direct_computation(oct_data, domain, cache):
    """evaluate()'s FD rows, overall and per class, against clean-fid's frechet_distance on the
    same extractor's features of the same images."""
    from cleanfid.fid import frechet_distance as clean_fid_frechet

    from synthbench.metrics.base import class_name
    from synthbench.metrics.evaluate import EvalSettings, evaluate

    synthetic = oct_data.val
    settings = EvalSettings(cache_dir=cache.root, min_group=10)
    rows = evaluate(oct_data, synthetic, ["fd"], settings).rows
    assert {r.feature_extractor for r in rows} == {domain.identity}
    ref_f, syn_f = domain(oct_data.train.images), domain(synthetic.images)

    def direct(a, b):
        return clean_fid_frechet(
            a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
        )

    by_class = {r.qualifiers.get("class"): r for r in rows}
    assert by_class[None].value == pytest.approx(direct(ref_f, syn_f), rel=1e-5)
    assert (by_class[None].n_real, by_class[None].n_synth) == (len(ref_f), len(syn_f))
    checked = 0
    for label in sorted(set(oct_data.train.label.tolist())):
        name = class_name(oct_data.train, "oct", label)
        real_rows, syn_rows = oct_data.train.label == label, synthetic.label == label
        if min(real_rows.sum(), syn_rows.sum()) < 10:
            assert name not in by_class
            continue
        assert by_class[name].value == pytest.approx(
            direct(ref_f[real_rows], syn_f[syn_rows]), rel=1e-5
        )
        checked += 1
    assert checked >= 2
