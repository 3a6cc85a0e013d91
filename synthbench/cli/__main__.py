"""``python -m synthbench.cli``."""

from synthbench.cli import main

main()
