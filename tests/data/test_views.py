"""Phantom views: the chest CT nodule view, and clear errors for views a modality lacks."""

import numpy as np
import pytest

from synthbench.data.phantoms import simulate
from synthbench.data.source import load_data
from synthbench.errors import DataError


def test_nodule_view_centres_the_nodule():
    full = simulate("chest_ct", 40, size=32, seed=3)
    roi = simulate("chest_ct", 40, size=32, seed=3, view="nodule")
    # same patients, reports, labels and survival; only the picture differs
    assert roi.reports == full.reports and np.array_equal(roi.labels, full.labels)
    assert roi.images.shape == full.images.shape and not np.array_equal(roi.images, full.images)
    # a nodule is brighter than lung: the centre of a nodule window is brighter on average than
    # the centre of a window on a lung spot without one
    centre = roi.images[:, 0, 13:19, 13:19].astype(float).mean(axis=(1, 2))
    nodule = roi.labels == 1
    assert centre[nodule].mean() > centre[~nodule].mean() + 20
    again = simulate("chest_ct", 40, size=32, seed=3, view="nodule")
    assert np.array_equal(again.images, roi.images)


def test_view_in_data_spec_and_errors():
    data = load_data("phantom:chest_ct?n=30&size=32&view=nodule")
    assert "nodule view" in data.train.description
    with pytest.raises(DataError, match=r"phantom oct has no view 'nodule'; valid: full"):
        load_data("phantom:oct?n=30&view=nodule")
    with pytest.raises(ValueError, match="no view 'side'"):
        simulate("chest_ct", 4, view="side")
