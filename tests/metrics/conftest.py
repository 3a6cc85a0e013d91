"""Shared fixtures for the metric tests: one small phantom OCT data set and one cache folder per
session, so the domain encoder is trained once."""

import pytest
import torch

# the test machines share two cores between jobs; one intra-op thread is several times faster
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def oct_data():
    from synthbench.data.source import load_data

    return load_data("phantom:oct?n=400&size=32")


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    from synthbench.metrics.cache import FeatureCache

    return FeatureCache(tmp_path_factory.mktemp("metrics-cache"))


@pytest.fixture(scope="session")
def domain(oct_data, cache):
    from synthbench.metrics.features import DomainExtractor

    return DomainExtractor.create(oct_data.train, cache=cache, seed=0)
