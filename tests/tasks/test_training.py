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


def test_backbone_weights_load_from_safetensors_file_or_folder(tmp_path):
    from safetensors.torch import save_file

    source = build_backbone("resnet10t", in_chans=1, num_classes=0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    (tmp_path / "saved").mkdir()
    save_file(source.state_dict(), tmp_path / "saved" / "model.safetensors")
    for given in (tmp_path / "saved" / "model.safetensors", tmp_path / "saved"):
        loaded = build_backbone("resnet10t", in_chans=1, num_classes=0, pretrained_path=str(given))
        for (name, want), got in zip(
            source.state_dict().items(), loaded.state_dict().values(), strict=True
        ):
            assert torch.equal(want, got), name


def test_pickle_backbone_weights_are_refused_by_name(tmp_path):
    weights = build_backbone("resnet10t", in_chans=1, num_classes=0).state_dict()
    torch.save(weights, tmp_path / "w.pth")
    torch.save(weights, tmp_path / "disguised.safetensors")  # a pickle whatever its name
    folder = tmp_path / "saved"
    folder.mkdir()
    torch.save(weights, folder / "pytorch_model.bin")
    for given, named in (
        (tmp_path / "w.pth", tmp_path / "w.pth"),
        (tmp_path / "disguised.safetensors", tmp_path / "disguised.safetensors"),
        (folder, folder / "pytorch_model.bin"),
    ):
        with pytest.raises(SynthbenchError) as err:
            build_backbone("resnet10t", in_chans=1, num_classes=0, pretrained_path=str(given))
        message = str(err.value)
        assert message.startswith(f"{named}: pickle-format weights") and "\n" not in message
