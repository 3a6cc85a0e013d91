"""Image-quality metrics and feature extractors."""
