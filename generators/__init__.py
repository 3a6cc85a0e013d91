"""Built-in generator plugins (registered lazily in synthbench.registry)."""
