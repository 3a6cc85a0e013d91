"""The conditional GAN's class-conditional batch normalisation."""

import torch

from synthbench.generators.cgan import build_generator


def test_conditional_norm_takes_scale_and_shift_from_the_class():
    """With ``conditional_norm`` each class has its own row of scales and shifts in every
    normalisation: changing class 1's rows changes class 1's images and leaves class 0's alone.
    Without it the layers are the plain batch norms of earlier checkpoints (same state keys)."""
    torch.manual_seed(0)
    net = build_generator(1, 16, 3, (8, 4), 6, conditional_norm=True).eval()
    z = torch.randn(4, 6)
    y = torch.eye(3)[[0, 0, 1, 1]]
    with torch.no_grad():
        before = net(z, y)
        for norm in (m for m in net.modules() if hasattr(m, "scale")):
            norm.scale[1] += 0.5
            norm.shift[1] -= 0.3
        after = net(z, y)
    assert torch.equal(before[:2], after[:2])
    assert (before[2:] - after[2:]).abs().max() > 1e-3

    plain = build_generator(1, 16, 3, (8, 4), 6)
    keys = set(plain.state_dict())
    assert "blocks.0.weight" in keys and "out.0.running_mean" in keys
    assert not any("scale" in k for k in keys)
