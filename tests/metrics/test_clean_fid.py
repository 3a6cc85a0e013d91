"""The inception extractor's resizing and FD against clean-fid itself, offline: clean-fid reads
the same images from PNG folders and calls a small local network (its ``custom_feat_extractor``
hook), so no weights are downloaded; and the clean path through torch-fidelity's Inception at the
real 299 px."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from synthbench.data.source import RealData
from synthbench.metrics.evaluate import EvalSettings, evaluate
from synthbench.metrics.frechet import GaussianStats, frechet_distance
from synthbench.metrics.inception import CLEAN_FID_FILE, InceptionExtractor


def _write_pngs(folder, images):
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(
            folder / f"{i:03d}.png"
        )
    return str(folder)


def _clean_fid_value(real_dir, synth_dir, net, mode):
    from cleanfid import fid

    if mode == "clean":

        def features(x):  # clean-fid's own clean path (InceptionV3W, resize_inside=False)
            return net.layers((x - 128) / 128)
    else:

        def features(x):  # legacy_tensorflow: the network resizes inside
            return net(x, return_features=True)

    with torch.no_grad():
        return float(
            fid.compute_fid(
                real_dir,
                synth_dir,
                mode={"clean": "clean", "legacy": "legacy_tensorflow"}[mode],
                custom_feat_extractor=features,
                num_workers=0,
                batch_size=16,
                device=torch.device("cpu"),
                verbose=False,
            )
        )


@pytest.mark.parametrize("channels", [1, 3])
def test_fd_equals_clean_fid_compute_fid_in_both_resize_modes(
    oct_data, clean_fid_like, tmp_path, channels
):
    real = oct_data.val.subset(np.arange(40))
    synthetic = oct_data.test.subset(np.arange(40))
    if channels == 3:  # colour images: a per-channel tint, so the channels differ
        tint = np.array([1.0, 0.8, 0.6])[None, :, None, None]
        real, synthetic = (
            type(c)(**{**c.__dict__, "images": (c.images * tint).astype(np.uint8)})
            for c in (real, synthetic)
        )
    weights = clean_fid_like(tmp_path / "weights" / CLEAN_FID_FILE, width=16, size=75)
    net = torch.jit.load(str(weights)).eval()
    real_dir = _write_pngs(tmp_path / "real", real.images)
    synth_dir = _write_pngs(tmp_path / "synthetic", synthetic.images)
    data = RealData("pngs", real, real, real)
    values = {}
    for mode in ("clean", "legacy"):
        settings = EvalSettings(
            extractor="inception",
            extractor_path=str(weights),
            resize=mode,
            breakdown=False,
            use_cache=False,
        )
        (row,) = evaluate(data, synthetic, ["fd"], settings).rows
        assert row.feature_extractor.endswith(f"-{mode}")
        expected = _clean_fid_value(real_dir, synth_dir, net, mode)
        assert row.value == pytest.approx(expected, rel=1e-4), mode
        values[mode] = row.value
    # the resizing matters: upsampling 32 px images bicubically in float or bilinearly inside
    # the network gives different distances
    assert abs(values["clean"] - values["legacy"]) > 1e-3 * values["clean"]


def test_clean_path_through_torch_fidelity_inception_at_299_px(oct_data, inception_weights):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    assert FeatureExtractorInceptionV3.INPUT_IMAGE_SIZE == 299  # the real size, unpatched
    extractor = InceptionExtractor(inception_weights, resize="clean", batch_size=4)
    # the clean path runs the network's layers on float input without its resize; on images
    # already at 299 px its resize is the identity, so both paths must agree there
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 299, 299), dtype=np.uint8)
    with torch.inference_mode():
        ours = extractor.network(torch.from_numpy(images).float())
        theirs = extractor._net(torch.from_numpy(images))[0]
    scale = float(theirs.abs().max())
    assert scale > 0.1  # features of a size where a wrong layer would show
    np.testing.assert_allclose(ours.numpy() / scale, theirs.numpy() / scale, atol=1e-4)
    # 48 px images (not the phantoms' 32), resized to 299 px by clean-fid's resizer
    from synthbench.data.source import load_data

    data = load_data("phantom:oct?n=30&size=48")
    real, synthetic = data.train.subset(np.arange(4)), data.test.subset(np.arange(3))
    features = extractor(real.images)
    assert features.shape == (4, 2048) and np.isfinite(features).all()
    assert extractor.preprocess(real.images[:1]).shape == (1, 3, 299, 299)
    settings = EvalSettings(
        extractor="inception",
        extractor_path=str(inception_weights),
        breakdown=False,
        use_cache=False,
    )
    (row,) = evaluate(RealData("p", real, real, real), synthetic, ["fd"], settings).rows
    s, t = GaussianStats.of(features), GaussianStats.of(extractor(synthetic.images))
    assert row.value > 1.0  # not a distance between vanishing features
    assert row.value == pytest.approx(frechet_distance(s.mean, s.cov, t.mean, t.cov), rel=1e-6)
    assert row.feature_extractor == extractor.identity and extractor.identity.endswith("-clean")
