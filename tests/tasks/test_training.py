"""The small-image ResNets of ``training.SMALL_RESNETS``."""

import pytest
import torch

from synthbench.errors import SynthbenchError
from synthbench.tasks.training import SMALL_RESNETS, build_backbone


@pytest.mark.parametrize("name", sorted(SMALL_RESNETS))
def test_small_resnet_keeps_resolution(name):
    model = build_backbone(name, in_chans=1, num_classes=3)
    assert model.conv1.stride == (1, 1)  # stride-1 stem: 32 px reaches the last stage at 2x2
    features = model.forward_features(torch.zeros(2, 1, 32, 32))
    assert features.shape == (2, SMALL_RESNETS[name]["channels"][-1], 2, 2)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 3)


def test_small_resnet_has_no_weights(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"")
    with pytest.raises(SynthbenchError, match="from scratch"):
        build_backbone("small_resnet10_w16", in_chans=1, num_classes=3, pretrained_path=str(path))
