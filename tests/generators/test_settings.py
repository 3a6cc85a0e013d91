"""Generator settings: values no training can run with are refused in one line, and settings
stored by an earlier config version read, convert or are refused as their version says."""

import math

import pytest

from synthbench.config import ConfigVersion, ProfiledConfig
from synthbench.errors import SynthbenchError
from synthbench.generators.base import create_generator, get_generator_class
from synthbench.registry import builtin_names, generators

TRAINED = [n for n in builtin_names(generators) if get_generator_class(n).capabilities.trains]


@pytest.mark.parametrize("name", TRAINED)
@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("lr", math.nan, "lr must be a positive number, got nan"),
        ("lr", -1e-3, "lr must be a positive number, got -0.001"),
        ("lr", 0.0, "lr must be a positive number, got 0.0"),
        ("lr", math.inf, "lr must be a positive number, got inf"),
        ("weight_decay", -0.1, "weight_decay must be >= 0"),
        ("ema_decay", 1.5, r"ema_decay must be in \[0, 1\]"),
        ("batch_size", 0, "batch_size must be at least 1"),
        ("warmup_steps", -1, "warmup_steps must be >= 0"),
        ("minutes", -2.0, "minutes must be a positive number or None"),
    ],
)
def test_training_settings_no_loop_can_run_are_refused(name, setting, value, message):
    with pytest.raises(SynthbenchError, match=message) as info:
        create_generator(name, profile="smoke", **{setting: value})
    assert "\n" not in str(info.value) and get_generator_class(name).Config.__qualname__ in str(
        info.value
    )


@pytest.mark.parametrize("value", [-0.1, math.nan])
def test_a_negative_kl_weight_is_refused(value):
    with pytest.raises(SynthbenchError, match="beta must be >= 0"):
        create_generator("cvae", profile="smoke", beta=value)
    assert create_generator("cvae", profile="smoke", beta=0.0).config.beta == 0.0


def test_settings_from_the_command_line_are_checked_too(cli, tmp_path):
    out = tmp_path / "c"
    for bad, message in (("lr=nan", "lr must be a positive number"), ("beta=-1", "beta must")):
        args = ["train", "cvae", "--data", "phantom:oct?n=40&size=16", "--profile", "smoke"]
        result = cli([*args, "--set", bad, "--out", str(out), "--no-progress"])
        assert result.exit_code != 0 and message in str(result.exception)
        assert not out.exists()


# ---------------------------------------------------------------------------- config versions
def _config(*versions: ConfigVersion, code_version: int = 1) -> type[ProfiledConfig]:
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True)
    class Settings(ProfiledConfig):
        steps: int = 10
        width: int = 8
        VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = versions
        CODE_VERSION: ClassVar[int] = code_version

    return Settings


def test_an_added_setting_reads_as_its_earlier_value_and_keeps_old_hashes():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Before(ProfiledConfig):  # version 1: no width yet
        steps: int = 10

    v2 = _config(ConfigVersion(2, added={"width": 4}))
    assert v2.config_version() == 2
    old = Before.from_stored({"steps": 10}, version=1)
    values, changes = v2.upgrade({"steps": 10}, version=1)
    assert values == {"steps": 10, "width": 4} and changes == ["width read as 4"]
    read = v2.from_stored({"steps": 10}, version=1)
    assert read.width == 4 and read.config_hash("x") == old.config_hash("x")
    assert v2(width=8).config_hash("x") != read.config_hash("x")
    # a current config lacking the setting is not read as old: it is incomplete
    assert v2.upgrade({"steps": 10}, version=2) == ({"steps": 10}, [])


def test_a_removed_setting_is_dropped_at_its_off_value_and_refused_otherwise():
    v2 = _config(ConfigVersion(2, removed={"legacy_trick": False}, note="last in commit abc"))
    assert v2.upgrade({"steps": 10, "width": 8, "legacy_trick": False}, version=1) == (
        {"steps": 10, "width": 8},
        ["legacy_trick=False dropped"],
    )
    with pytest.raises(SynthbenchError, match=r"legacy_trick=True was removed .*last in commit"):
        v2.upgrade({"steps": 10, "legacy_trick": True}, version=1)
    with pytest.raises(SynthbenchError, match="newer than this synthbench reads"):
        v2.upgrade({"steps": 10}, version=3)


def test_the_code_version_enters_the_hash_only_once_bumped():
    plain, one, two = _config(), _config(code_version=1), _config(code_version=2)
    assert plain().config_hash("x") == one().config_hash("x") != two().config_hash("x")


@pytest.mark.parametrize("name", builtin_names(generators))
def test_every_generator_reads_its_own_settings_at_its_version(name):
    cls = get_generator_class(name).Config
    config = cls.for_profile("smoke")
    stored = config.to_dict()
    assert cls.upgrade(stored, version=cls.config_version()) == (stored, [])
    assert cls.from_stored(stored, version=cls.config_version()) == config
