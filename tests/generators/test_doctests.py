"""The examples in the generator modules' docstrings run."""

import doctest
import importlib

import pytest

MODULES = [
    "synthbench.generators.base",
    "synthbench.generators.conditions",
    "synthbench.generators.image_space",
    "synthbench.generators.real_only",
    "synthbench.generators.classical_aug",
    "synthbench.generators.neural",
    "synthbench.generators.ddpm",
    "synthbench.generators.cvae",
    "synthbench.generators.cgan",
    "synthbench.generators.minim",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
