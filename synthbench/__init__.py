"""synthbench: does synthetic medical imaging data help your models, how much, and at what risk."""

__version__ = "0.1.0"
