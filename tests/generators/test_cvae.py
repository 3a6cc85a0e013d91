"""The conditional VAE's class-conditioned refinement blocks in the decoder; the latent
generators' sampling temperature."""

import json

import numpy as np
import pytest
import torch

from synthbench.errors import SynthbenchError
from synthbench.generators.cvae import build_cvae


def test_refine_blocks_start_as_identity_and_take_the_class():
    """A fresh refinement block passes its input through unchanged; once trained, each class
    has its own norm scales and shifts: changing class 1's rows changes class 1's images and
    leaves class 0's alone."""
    torch.manual_seed(0)
    net = build_cvae(1, 16, 3, (8, 16), 6, refine_blocks=2).eval()
    blocks = [m for m in net.modules() if type(m).__name__ == "RefineBlock"]
    assert len(blocks) == 4  # two after each of the two upsamplings
    h = torch.randn(4, 8, 8, 8)
    y = torch.eye(3)[[0, 0, 1, 1]]
    with torch.no_grad():
        assert torch.equal(blocks[0](h, y), h)
        for b in blocks:
            torch.nn.init.normal_(b.convs[1].weight, std=0.1)
        z = torch.randn(4, 6)
        before = net.decode(z, y)
        for b in blocks:
            b.scale[:, 1] += 0.5
            b.shift[:, 1] -= 0.3
        after = net.decode(z, y)
    assert before.shape == (4, 1, 16, 16)
    assert torch.equal(before[:2], after[:2])
    assert (before[2:] - after[2:]).abs().max() > 1e-3


def test_without_refine_blocks_the_state_keys_are_those_of_earlier_checkpoints():
    """Checkpoints written before the option load unchanged: the decoder's parameters keep the
    names of the earlier ``nn.Sequential`` (transposed convolutions and group norms only)."""
    keys = set(build_cvae(1, 16, 3, (8, 16), 6).state_dict())
    decoder = sorted(k for k in keys if k.startswith("decoder."))
    assert decoder == [
        "decoder.0.bias",
        "decoder.0.weight",
        "decoder.1.bias",
        "decoder.1.weight",
        "decoder.3.bias",
        "decoder.3.weight",
    ]


@pytest.mark.parametrize("name", ["cvae", "cgan"])
def test_temperature_scales_the_noise_and_leaves_earlier_hashes(name, fit_generator, oct_data):
    """``temperature`` is a sampling setting: near 0 every image of a class is the decoding of
    ``z = 0`` (so all images asked for one class coincide; for ``cvae`` sampling its prior, not
    a latent mixture), at 1 the config hash is that of a config written before the setting
    existed."""
    gen = fit_generator(name, oct_data)
    at_one = gen.config.replace(temperature=1.0)
    stored = {k: v for k, v in at_one.to_dict().items() if k != "temperature"}
    old = type(gen.config).from_stored(stored, version=1)
    assert old.config_hash(name) == at_one.config_hash(name)
    conditions = gen.resolve(8, seed=0)
    fitted = gen.config
    before = fitted.replace(latent_mixture=0) if name == "cvae" else fitted
    try:
        gen.config = before.with_sampling(["temperature=1e-6"])
        cold = gen.sample(8, seed=0)
        assert gen.config_hash != before.config_hash(name)
        gen.config = before
        warm = gen.sample(8, seed=0)
    finally:
        gen.config = fitted
    cold_px, warm_px = cold.images.astype(int), warm.images.astype(int)
    for label in np.unique(conditions.label):
        rows = np.flatnonzero(conditions.label == label)
        assert len(rows) > 1
        assert np.abs(cold_px[rows] - cold_px[rows[0]]).max() == 0
        assert np.abs(warm_px[rows] - warm_px[rows[0]]).max() > 0
    with pytest.raises(SynthbenchError, match="temperature must be > 0"):
        before.replace(temperature=0.0)


def test_fit_mixtures_recovers_each_conditions_clusters_and_samples_them():
    """Two conditions whose encodings sit in two clusters each: each condition's mixture finds
    its own cluster centres and weights, and sampling with a condition's code draws latents
    near its centres (a mixed code goes to the nearest training condition)."""
    from synthbench.generators.cvae import fit_mixtures, sample_mixture

    rng = np.random.default_rng(0)
    centres = {0: [(-4.0, 0.0), (4.0, 0.0)], 1: [(0.0, 6.0), (0.0, -6.0)]}
    enc, codes = [], []
    for cls, (a, b) in centres.items():
        pts = np.concatenate([rng.normal(a, 0.3, (150, 2)), rng.normal(b, 0.3, (50, 2))])
        enc.append(pts)
        codes.append(np.tile(np.eye(2)[cls], (200, 1)))
    mix = fit_mixtures(
        torch.tensor(np.concatenate(enc)), torch.tensor(np.concatenate(codes)), 2, seed=0
    )
    assert mix["means"].shape == (2, 2, 2) and mix["scales"].shape == (2, 2, 2, 2)
    for g, cls in enumerate(mix["codes"].argmax(1).tolist()):
        order = mix["weights"][g].argsort(descending=True)
        assert torch.allclose(mix["weights"][g][order], torch.tensor([0.75, 0.25]), atol=0.01)
        assert torch.allclose(mix["means"][g][order], torch.tensor(centres[cls]), atol=0.15)
    y = torch.tensor([[1.0, 0.0]] * 500 + [[0.3, 0.7]] * 500)
    z = sample_mixture(mix, torch.randn(1000, 2), y, torch.Generator().manual_seed(0))
    assert (z[:500, 0].abs() > 2).float().mean() > 0.95  # class 0: the x = +-4 clusters
    assert (z[500:, 1].abs() > 3).float().mean() > 0.95  # nearest is class 1: y = +-6
    assert 0.65 < (z[:500, 0] < 0).float().mean() < 0.85  # the heavier cluster three in four


def test_latent_mixture_is_fitted_saved_and_sampled(oct_data, tmp_path):
    """With ``latent_mixture`` the trained model's encodings get one mixture per class, saved
    beside the weights: the loaded model samples the same images; a damaged mixture file is a
    one-line checkpoint error."""
    from synthbench.generators.base import create_generator, file_digests, load_generator
    from synthbench.generators.conditions import Conditions
    from synthbench.generators.cvae import MIXTURE_FILE

    gen = create_generator("cvae", profile="smoke", steps=3, latent_mixture=3)
    gen.progress = False
    gen.fit(oct_data.train, seed=0)
    n_classes = len(set(oct_data.train.label.tolist()))
    assert gen.mixture_["means"].shape == (n_classes, 3, 8)
    gen.save(tmp_path / "ckpt")
    again = load_generator(tmp_path / "ckpt")
    a, b = gen.sample(8, seed=2).images, again.sample(8, seed=2).images
    assert np.array_equal(a, b)
    # near temperature 0 each image is the decoding of one of its class's component means
    gen.config = gen.config.with_sampling(["temperature=1e-6"])
    cold = gen.sample(Conditions.from_labels([0] * 30), seed=0).images.reshape(30, -1)
    assert 1 < len(np.unique(cold, axis=0)) <= 3

    from safetensors.torch import save_file

    save_file({"weights": torch.ones(2, 3)}, str(tmp_path / "ckpt" / "cvae" / MIXTURE_FILE))
    # recorded as the checkpoint's own file, so the digest check passes and the shape check acts
    meta_path = tmp_path / "ckpt" / "synthbench_generator.json"
    meta = json.loads(meta_path.read_text())
    meta["weights_sha256"] = file_digests(tmp_path / "ckpt")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SynthbenchError, match="not a latent mixture"):
        load_generator(tmp_path / "ckpt")
