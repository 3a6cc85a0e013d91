"""The examples in public docstrings run."""

import doctest
import importlib

import pytest

MODULES = [
    "synthbench.cohort",
    "synthbench.registry",
    "synthbench.results",
    "synthbench.data.source",
    "synthbench.config",
    "synthbench.data.phantoms",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
