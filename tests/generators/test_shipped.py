"""Shipped checkpoints: lookup by generator, profile and data spec; staleness; ``shipped:<name>``;
and the checkpoints the package ships (current, loadable, carded, small)."""

import json

import numpy as np
import pytest

from synthbench.errors import SynthbenchError
from synthbench.generators import shipped
from synthbench.generators.base import load_generator, read_checkpoint_info

SPEC = "phantom:oct?n=40&size=16"


@pytest.fixture(scope="module")
def root(cli, tmp_path_factory):
    """A checkpoint tree like the package's: <root>/smoke/cvae-oct, trained by the CLI."""
    root = tmp_path_factory.mktemp("shipped")
    out = root / "smoke" / "cvae-oct"
    result = cli(
        ["train", "cvae", "--data", SPEC, "--profile", "smoke", "--out", str(out), "--no-progress"],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return root


@pytest.fixture(autouse=True)
def _fresh_scan():
    shipped._scan.cache_clear()
    yield
    shipped._scan.cache_clear()


def test_list_and_find(root):
    items = shipped.list_shipped(root)
    assert [(i.name, i.generator, i.profile, i.data) for i in items] == [
        ("cvae-oct", "cvae", "smoke", SPEC)
    ]
    assert items[0].is_current
    # the same spec with its options in another order matches; other data, profiles or
    # generators do not
    found = shipped.find_shipped("cvae", "phantom:oct?size=16&n=40", "smoke", root=root)
    assert found is not None and found.path == root / "smoke" / "cvae-oct"
    assert shipped.find_shipped("cvae", "phantom:oct?n=41&size=16", "smoke", root=root) is None
    assert shipped.find_shipped("cvae", SPEC, "quick", root=root) is None
    assert shipped.find_shipped("cgan", SPEC, "smoke", root=root) is None


def test_stale_checkpoint_is_not_used(root, tmp_path):
    import shutil

    copy = tmp_path / "smoke" / "cvae-oct"
    shutil.copytree(root / "smoke" / "cvae-oct", copy)
    meta_path = copy / "synthbench_generator.json"
    meta = json.loads(meta_path.read_text())
    meta["config_hash"] = "000000000000"  # as if trained under an older default config
    meta_path.write_text(json.dumps(meta))
    (item,) = shipped.list_shipped(tmp_path)
    assert not item.is_current
    assert shipped.find_shipped("cvae", SPEC, "smoke", root=tmp_path) is None


def test_shipped_prefix_resolves(cli, root, monkeypatch, tmp_path):
    assert shipped.resolve_checkpoint("shipped:cvae-oct", root=root) == root / "smoke" / "cvae-oct"
    assert shipped.resolve_checkpoint(tmp_path) == tmp_path
    with pytest.raises(
        SynthbenchError, match=r"no shipped checkpoint 'nope'; valid: shipped:cvae-oct"
    ):
        shipped.resolve_checkpoint("shipped:nope", root=root)
    monkeypatch.setattr(shipped, "SHIPPED_ROOT", root)
    gen = load_generator("shipped:cvae-oct")
    assert gen.name == "cvae"
    png = tmp_path / "grid.png"
    result = cli(["generate", "shipped:cvae-oct", "-n", "4", "--seed", "1", "--out", str(png)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert png.stat().st_size > 0


# ---------------------------------------------------------------- the package's own checkpoints
PACKAGED = shipped.list_shipped()


@pytest.mark.parametrize("item", PACKAGED, ids=[i.name for i in PACKAGED])
def test_packaged_checkpoint(item):
    """Each shipped checkpoint matches the current code's profile config, loads, samples, carries
    a model card with what it promises, and stays small."""
    assert item.is_current, (
        f"{item.name}: trained with config {item.config_hash}, the {item.profile} profile now "
        f"builds {item.current_hash()}; retrain it with the command in its README.md"
    )
    info = read_checkpoint_info(item.path)
    card = (item.path / "README.md").read_text()
    for needle in (
        f"synthbench train {item.generator}",
        info.config_hash,
        item.data,
        "training time",
        "final loss",
    ):
        assert needle in card, needle
    size = sum(p.stat().st_size for p in item.path.rglob("*") if p.is_file())
    assert size < 10 * 2**20, f"{item.name}: {size / 2**20:.1f} MB"
    gen = load_generator(f"shipped:{item.name}")
    a = gen.sample(4, seed=3)
    assert len(a) == 4 and a.images.dtype == np.uint8
    assert np.array_equal(a.images, gen.sample(4, seed=3).images)


def test_fine_tuned_checkpoint_is_current_when_its_base_was(cli, tmp_path):
    """A checkpoint fine-tuned (``init_from``) from one trained with the profile's config counts
    as current when the fine-tuning changed only its own settings (start, learning rate,
    budget); another changed setting, or a base of another config, makes it stale."""
    base = tmp_path / "base"
    args = ["train", "minim", "--data", SPEC, "--profile", "smoke", "--no-progress"]
    assert cli([*args, "--out", str(base)]).exit_code == 0
    tune = [*args, "--set", f"init_from={base}", "--set", "lr=0.0005", "--steps", "3"]
    for name, extra in (("tuned", []), ("changed", ["--set", "cond_dropout=0.2"])):
        out = tmp_path / "root" / "smoke" / name
        result = cli([*tune, *extra, "--out", str(out)])
        assert result.exit_code == 0, result.output + repr(result.exception)
    items = {i.name: i for i in shipped.list_shipped(tmp_path / "root")}
    assert items["tuned"].base_hash == read_checkpoint_info(base).config_hash
    assert items["tuned"].is_current and not items["changed"].is_current
    found = shipped.find_shipped("minim", SPEC, "smoke", root=tmp_path / "root")
    assert found is not None and found.name == "tuned"
    meta_path = tmp_path / "root" / "smoke" / "tuned" / "synthbench_generator.json"
    meta = json.loads(meta_path.read_text())
    meta["fit"]["init_from"]["config_hash"] = "000000000000"  # a base of an older config
    meta_path.write_text(json.dumps(meta))
    shipped._scan.cache_clear()
    assert not shipped.list_shipped(tmp_path / "root")[1].is_current
