"""The examples in the docstrings of every synthbench module run."""

import doctest
import importlib
import inspect
import pkgutil

import pytest


def _modules_with_examples() -> list[str]:
    names = []
    # the generators and tasks packages live in their own top-level folders
    for package in ("synthbench", "synthbench.generators", "synthbench.tasks"):
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, package + "."):
            module = importlib.import_module(info.name)
            if ">>>" in inspect.getsource(module) and info.name not in names:
                names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_the_packages_have_examples():
    for name in ("synthbench.cohort", "synthbench.generators.minim", "synthbench.tasks.mixing"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
