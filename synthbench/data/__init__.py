"""Data sources: the data-spec syntax, loaders, and the phantom simulator."""
