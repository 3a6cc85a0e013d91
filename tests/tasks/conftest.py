"""Shared fixtures: tiny phantom data, one torch thread."""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # small shared CI machines: one thread avoids OpenMP oversubscription
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def oct_data():
    from synthbench.data.source import load_data

    return load_data("phantom:oct?n=48&size=16")


@pytest.fixture(scope="session")
def chest_ct_data():
    """Enough nodule patients (about 90 in test) for the Cox model to recover HR 0.5."""
    from synthbench.data.source import load_data

    return load_data("phantom:chest_ct?n=1200&size=16")
