"""Built-in generator plugins, importable as ``synthbench.generators``.

The built-ins are listed lazily in :data:`synthbench.registry.generators` (importing this package
imports no torch). Use :func:`synthbench.generators.base.create_generator` and
:func:`synthbench.generators.base.load_generator` to make or load one by name.
"""
