"""Image-quality metrics and feature extractors.

Importing this package imports nothing heavy. Built-in names (the registries list them lazily):

metrics: ``fd``, ``kd``, ``prdc``, ``is``, ``diversity``, ``memorisation``, ``copy-detection``,
``cas``, ``prompt-adherence``, ``retrieval``; feature extractors: ``domain``, ``inception``, ``local``.

>>> from synthbench.metrics.evaluate import evaluate  # doctest: +SKIP
>>> rows = evaluate(load_data("phantom:oct?n=400&size=32"), synthetic, metrics=["fd", "prdc"])  # doctest: +SKIP
"""

#: what ``synthbench evaluate`` computes when ``--metrics`` is not given
DEFAULT_METRICS = ("fd", "kd", "prdc", "is", "diversity", "memorisation")
