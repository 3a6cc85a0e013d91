import textwrap

import pytest

from synthbench.errors import RegistryError
from synthbench.registry import REGISTRIES, Registry


class Base:
    pass


def test_register_and_get():
    reg: Registry = Registry("widget", base=Base)

    @reg.register("fancy")
    class Fancy(Base):
        pass

    assert reg.get("fancy") is Fancy
    assert "fancy" in reg
    assert reg.names() == ["fancy"]


def test_duplicate_name_is_an_error():
    reg: Registry = Registry("widget")
    reg.add("a", object())
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("a", object())


def test_unknown_name_says_did_you_mean():
    reg: Registry = Registry("widget")
    reg.add("classical-aug", object())
    with pytest.raises(RegistryError, match="did you mean 'classical-aug'"):
        reg.get("clasical-aug")


def test_base_class_is_checked():
    reg: Registry = Registry("widget", base=Base)
    reg.add("wrong", int)
    with pytest.raises(RegistryError, match="not a subclass"):
        reg.get("wrong")


def test_lazy_builtin_is_not_imported_until_used(monkeypatch):
    import sys

    reg: Registry = Registry("widget")
    reg.add("lazy", "json.decoder:JSONDecoder", origin="built-in")
    assert reg.names() == ["lazy"]
    import json.decoder

    assert reg.get("lazy") is json.decoder.JSONDecoder
    assert "json.decoder" in sys.modules


def test_failed_lazy_import_fails_loudly_with_its_name():
    reg: Registry = Registry("widget")
    reg.add("ghost", "no_such_module_abc:Thing", origin="built-in")
    with pytest.raises(
        RegistryError, match=r"widget 'ghost'.*failed to import.*no_such_module_abc"
    ):
        reg.get("ghost")
    assert "ghost" in reg.names()  # it never disappears from the list


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A distribution with entry points, made on disk and put on sys.path (nothing installed)."""
    (tmp_path / "toy_plugin.py").write_text(
        textwrap.dedent(
            """
            class ToyGenerator:
                name = "toy"

            class ToyMetric:
                pass
            """
        )
    )
    dist = tmp_path / "toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [synthbench.generators]
            toy = toy_plugin:ToyGenerator
            broken = toy_plugin_missing:Nope

            [synthbench.metrics]
            toy-metric = toy_plugin:ToyMetric
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugin_is_picked_up(plugin_dist):
    gens = Registry("generator", group="synthbench.generators")
    assert {"toy", "broken"} <= set(gens.names())
    assert gens.get("toy").__name__ == "ToyGenerator"
    assert "toy-plugin" in gens.origins()["toy"]
    assert "toy-metric" in REGISTRIES["metrics"].names()


def test_entry_point_plugin_that_fails_to_import_is_loud(plugin_dist):
    gens = Registry("generator", group="synthbench.generators")
    with pytest.raises(RegistryError, match=r"generator 'broken'.*toy-plugin.*failed to import"):
        gens.get("broken")


def test_entry_point_clashing_with_builtin_is_an_error(plugin_dist):
    gens = Registry("generator", group="synthbench.generators")
    gens.add("toy", "json:loads", origin="built-in")
    with pytest.raises(RegistryError, match="clashes with built-in"):
        gens.names()


def test_builtin_data_sources_are_listed():
    assert {"phantom", "medmnist", "imagefolder", "hf"} <= set(REGISTRIES["datasets"].names())
