"""``python -m synthbench.cli``."""

from synthbench.cli import main

if __name__ == "__main__":
    main()
