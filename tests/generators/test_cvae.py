"""The conditional VAE's class-conditioned refinement blocks in the decoder."""

import torch

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
