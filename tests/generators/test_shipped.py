"""Shipped checkpoints: lookup by generator, profile and data spec, and why one is declined;
staleness; ``shipped:<name>``; and the checkpoints the package ships (current, intact, loadable,
carded, small, holding no training report)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthbench.errors import SynthbenchError
from synthbench.generators import shipped
from synthbench.generators.base import load_generator, read_checkpoint_info, weights_digest

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
    # the model card says what made it: version, revision, precision, the weights' digest
    info = read_checkpoint_info(items[0].path)
    card = (items[0].path / "README.md").read_text()
    assert f"synthbench {info.synthbench_version}, source revision {info.source_revision}" in card
    assert f"training precision {info.training_precision}" in card
    assert f"weights sha256 {weights_digest(info.weights_sha256)}" in card
    # the same spec with its options in another order matches; other data, profiles or
    # generators do not
    found = shipped.find_shipped("cvae", "phantom:oct?size=16&n=40", "smoke", root=root)
    assert found.path == root / "smoke" / "cvae-oct"
    # each decline says why, in one line
    declined = {
        ("cvae", "phantom:oct?n=41&size=16", "smoke"): f"cvae-oct: trained on {SPEC}, not",
        ("cvae", SPEC, "quick"): "cvae-oct: trained at profile smoke, not quick",
        ("cgan", SPEC, "smoke"): "none of cgan is installed",
    }
    for (generator, data, profile), reason in declined.items():
        with pytest.raises(shipped.NoShippedCheckpoint) as info:
            shipped.find_shipped(generator, data, profile, root=root)
        assert reason in str(info.value) and "\n" not in str(info.value)


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
    assert "trained with config 000000000000" in item.stale_reason()
    with pytest.raises(shipped.NoShippedCheckpoint, match="changed defaults or CODE_VERSION"):
        shipped.find_shipped("cvae", SPEC, "smoke", root=tmp_path)


def test_a_longer_or_shorter_run_is_current_another_setting_is_not(cli, tmp_path):
    """A checkpoint trained with the profile's config for another budget (``--steps``) counts
    as current; one trained with another learning rate does not, and says so."""
    args = ["train", "cvae", "--data", SPEC, "--profile", "smoke", "--no-progress"]
    for name, extra in (("longer", ["--steps", "7"]), ("other-lr", ["--set", "lr=0.0007"])):
        result = cli([*args, *extra, "--out", str(tmp_path / "smoke" / name)])
        assert result.exit_code == 0, result.output + repr(result.exception)
    items = {i.name: i for i in shipped.list_shipped(tmp_path)}
    assert items["longer"].config_hash != items["longer"].current_hash()
    assert items["longer"].stale_reason() is None
    assert "changed defaults or CODE_VERSION" in items["other-lr"].stale_reason()


def test_a_changed_byte_is_declined_and_refused(cli, root, tmp_path):
    """One changed byte of a checkpoint's weights: ``find_shipped`` declines it saying which file,
    and ``synthbench generate`` on it refuses in one line (exit 2, no traceback)."""
    copy = shutil.copytree(root / "smoke" / "cvae-oct", tmp_path / "smoke" / "cvae-oct")
    _flip_last_byte(copy / "cvae" / "model.safetensors")
    with pytest.raises(shipped.NoShippedCheckpoint, match=r"cvae/model\.safetensors has sha256"):
        shipped.find_shipped("cvae", SPEC, "smoke", root=tmp_path)
    out = _synthbench("generate", str(copy), "-n", "2", "--out", str(tmp_path / "g.png"))
    assert out.returncode == 2 and not (tmp_path / "g.png").exists()
    assert out.stderr.strip().count("\n") == 0 and "changed or damaged" in out.stderr
    assert "Traceback" not in out.stderr


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _synthbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


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
#: the checkpoints the quick suite and the README name
EXPECTED = {
    "cgan-oct",
    "cvae-oct",
    "ddpm-oct",
    "minim-oct-brain_mri",
    "minim-oct-fundus-cxr-chest_ct",
}


def test_the_package_ships_its_checkpoints():
    assert {i.name for i in PACKAGED} >= EXPECTED, (
        f"missing: {EXPECTED - {i.name for i in PACKAGED}}"
    )


# an empty list would make pytest skip the test silently: run it once with None, and fail
@pytest.mark.parametrize("item", PACKAGED or [None], ids=[i.name for i in PACKAGED] or ["none"])
def test_packaged_checkpoint(item):
    """Each shipped checkpoint matches the current code's profile config, its files match their
    recorded digests, it holds no training report, loads, samples, carries a model card with
    what it promises, and stays small."""
    assert item is not None, f"no shipped checkpoints found under {shipped.SHIPPED_ROOT}"
    check_packaged(item)


def check_packaged(item: shipped.Shipped) -> None:
    stale = item.stale_reason()
    assert stale is None, f"{item.name}: {stale}"
    damage = item.damage()
    assert damage is None, f"{item.name}: {damage}"
    info = read_checkpoint_info(item.path)
    assert info.format == 2 and info.weights_sha256, f"{item.name}: not in the current format"
    assert "bank" not in info.training_schema, f"{item.name}: holds training reports"
    card = (item.path / "README.md").read_text()
    for needle in (
        f"synthbench train {item.generator}",
        info.config_hash,
        item.data,
        "training time",
        "final loss",
        "weights sha256",
        f"training precision {info.training_precision}",
    ):
        assert needle in card, needle
    size = sum(p.stat().st_size for p in item.path.rglob("*") if p.is_file())
    assert size < 10 * 2**20, f"{item.name}: {size / 2**20:.1f} MB"
    gen = load_generator(item.path)
    a = gen.sample(4, seed=3)
    assert len(a) == 4 and a.images.dtype == np.uint8
    assert np.array_equal(a.images, gen.sample(4, seed=3).images)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_changed_byte_fails_the_packaged_checkpoint_check(name, tmp_path):
    """The check above, on a copy of a shipped checkpoint with one byte of its weights changed,
    fails naming the file."""
    (item,) = [i for i in PACKAGED if i.name == name]
    copy = shutil.copytree(item.path, tmp_path / item.profile / name)
    weights = max(copy.rglob("*.safetensors"), key=lambda p: p.stat().st_size)
    _flip_last_byte(weights)
    shipped._scan.cache_clear()
    (changed,) = shipped.list_shipped(tmp_path)
    with pytest.raises(AssertionError, match="was changed or damaged") as info:
        check_packaged(changed)
    assert weights.relative_to(copy).as_posix() in str(info.value)


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
    assert found.name == "tuned"
    meta_path = tmp_path / "root" / "smoke" / "tuned" / "synthbench_generator.json"
    meta = json.loads(meta_path.read_text())
    meta["fit"]["init_from"]["config_hash"] = "000000000000"  # a base of an older config
    meta_path.write_text(json.dumps(meta))
    shipped._scan.cache_clear()
    assert not shipped.list_shipped(tmp_path / "root")[1].is_current
