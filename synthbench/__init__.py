"""synthbench: does synthetic medical imaging data help your models, how much, and at what risk."""


def _installed_version() -> str:
    """The version of the installed distribution (pyproject's), not a constant kept by hand."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synthbench")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _installed_version()
