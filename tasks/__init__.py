"""Built-in downstream tasks, importable as ``synthbench.tasks`` (listed lazily in
:data:`synthbench.registry.tasks`)."""
