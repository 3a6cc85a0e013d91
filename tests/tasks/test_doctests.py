"""The examples in the tasks' docstrings run."""

import doctest
import importlib

import pytest

MODULES = [
    "synthbench.tasks.base",
    "synthbench.tasks.mixing",
    "synthbench.tasks.classification",
    "synthbench.tasks.report_generation",
    "synthbench.tasks.ssl",
    "synthbench.tasks.biomarker_survival",
    "synthbench.tasks.text_metrics",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
