"""The diffusion loop shared by ``ddpm`` and ``minim``: both prediction types are read as what
they are, by the training loss and by the solver."""

from __future__ import annotations

import pytest
import torch

from synthbench.generators import diffusion


def _oracle(scheduler, x0):
    """The exact network for data that is the one image ``x0``: its noise is
    ``(x_t - alpha x0) / sigma``, its v ``alpha eps - sigma x0``."""
    alphas = scheduler.alphas_cumprod

    def predict(x, t):
        a = alphas[t.long()].sqrt().view(-1, 1, 1, 1).to(x.dtype)
        s = (1 - alphas[t.long()]).sqrt().view(-1, 1, 1, 1).to(x.dtype)
        eps = (x - a * x0) / s
        if scheduler.config.prediction_type == "v_prediction":
            return a * eps - s * x0
        return eps

    return predict


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_exact_network_has_zero_loss_and_samples_its_image(prediction_type):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand((2, 3, 8, 8), generator=gen) * 1.6 - 0.8
    scheduler = diffusion.noise_scheduler(prediction_type)
    predict = _oracle(scheduler, x0)
    assert diffusion.diffusion_loss(predict, x0, scheduler, gen).item() < 1e-8

    config = dict(scheduler.config)
    solver = diffusion.solver(config, 10, torch.device("cpu"))
    out = diffusion.sample_loop(
        lambda x, t: predict(x, t).float(), x0.shape, solver, gen, torch.device("cpu")
    )
    assert torch.allclose(out, x0, atol=1e-3)


def test_the_other_prediction_type_does_not_sample_the_image():
    """The check above can fail: a v network read as a noise network misses the image by 10x
    its tolerance (the last, low-noise steps, where v and noise nearly agree, hide most of it)."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand((2, 3, 8, 8), generator=gen) * 1.6 - 0.8
    v_net = _oracle(diffusion.noise_scheduler("v_prediction"), x0)
    eps_config = dict(diffusion.noise_scheduler("epsilon").config)
    solver = diffusion.solver(eps_config, 10, torch.device("cpu"))
    out = diffusion.sample_loop(v_net, x0.shape, solver, gen, torch.device("cpu"))
    assert (out - x0).abs().max() > 0.01


def test_unknown_prediction_type_is_a_clear_error():
    from synthbench.generators.minim import MinimConfig

    with pytest.raises(ValueError, match="prediction_type must be one of epsilon, v_prediction"):
        MinimConfig(prediction_type="sample")
