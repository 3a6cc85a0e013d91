"""Built-in downstream tasks (registered lazily in synthbench.registry)."""
