"""The benchmark runner: suites (``suite``), their cells and protocols (``plan``), running a cell
and the cell store (``cells``), executors (``executors``) and ``run_suite`` (``run``).

>>> from synthbench.runner.suite import load_suite  # doctest: +SKIP
>>> from synthbench.runner.run import run_suite  # doctest: +SKIP
>>> report = run_suite(load_suite("benchmarks/smoke.toml"), "results/smoke")  # doctest: +SKIP
"""
