"""Memorisation: does the generator copy its training images? (registry entry ``memorisation``)

For each synthetic image, its nearest real training image and the distance to it, compared with
how close held-out real test images come to the training set:

- ``nn_distance_ratio``: median synthetic-to-train NN distance / median test-to-train NN
  distance. About 1 for a generator that is as novel as fresh real data; well below 1 when it
  copies. (No direction is "better": above 1 means images unlike any training image.)
- ``authenticity`` (Alaa et al. 2022): share of synthetic images farther from their nearest
  training image than that image is from its own nearest training neighbour.
- ``near_copy_share``: share of synthetic images closer to their nearest training image than
  ``alpha`` (0.5) times that image's own nearest-neighbour distance: near duplicates.

Each is computed in the extractor's feature space and in pixel space (``space=pixels``, images
downsampled to at most 32 px); the real test split's values come alongside (``set=real-test``)
as the baseline. A PNG grid of the closest pairs (synthetic above, its nearest training image
below) is written for a person to inspect when the context has an artifacts folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synthbench.metrics.base import EvalContext, QualityMetric, Score
from synthbench.metrics.prdc import knn_radii, pairwise_distances

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

NEAR_COPY_ALPHA = 0.5


def nearest(
    queries: np.ndarray, gallery: np.ndarray, *, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of each query's nearest gallery row."""
    dist = np.empty(len(queries))
    index = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), chunk):
        d = pairwise_distances(queries[start : start + chunk], gallery)
        index[start : start + chunk] = d.argmin(axis=1)
        dist[start : start + chunk] = d[np.arange(len(d)), index[start : start + chunk]]
    return dist, index


def memorisation_scores(
    train: np.ndarray, test: np.ndarray, synthetic: np.ndarray, *, alpha: float = NEAR_COPY_ALPHA
) -> dict[str, dict[str, float]]:
    """``{"synthetic": {...}, "real-test": {...}}`` with authenticity and near-copy share for
    each set, and the NN distance ratio for the synthetic set (see the module docstring)."""
    radius = knn_radii(train, 1)
    d_test, i_test = nearest(test, train)
    d_syn, i_syn = nearest(synthetic, train)
    out = {}
    for name, d, i in (("synthetic", d_syn, i_syn), ("real-test", d_test, i_test)):
        out[name] = {
            "authenticity": float((d > radius[i]).mean()),
            "near_copy_share": float((d <= alpha * radius[i]).mean()),
        }
    out["synthetic"]["nn_distance_ratio"] = float(np.median(d_syn) / max(np.median(d_test), 1e-12))
    return out


def pixel_vectors(images: np.ndarray, max_size: int = 32) -> np.ndarray:
    """Images as float vectors in [0, 1], downsampled by block averaging to at most ``max_size``."""
    x = images.astype(np.float64) / 255.0
    h = x.shape[-1]
    factor = max(1, -(-h // max_size))
    if factor > 1 and h % factor == 0 and x.shape[-2] % factor == 0:
        n, c, hh, ww = x.shape
        x = x.reshape(n, c, hh // factor, factor, ww // factor, factor).mean(axis=(3, 5))
    return x.reshape(len(x), -1)


class Memorisation(QualityMetric):
    """See the module docstring. Needs the real train and test splits."""

    name = "memorisation"
    higher_is_better = None
    alpha = NEAR_COPY_ALPHA
    grid_pairs = 8

    #: the PNG of the closest pairs, in the artifacts folder
    grid_name = "memorisation_closest_pairs.png"

    def spaces(
        self, ctx: EvalContext, synthetic: Cohort
    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Space (``features`` or a ``space`` qualifier's value) -> train, test and synthetic
        vectors in it."""
        train, test = ctx.real.train, ctx.real.test
        spaces = {
            "features": (
                ctx.split_features("train"),
                ctx.split_features("test"),
                ctx.features(synthetic),
            ),
        }
        if synthetic.image_shape == train.image_shape:
            spaces["pixels"] = tuple(pixel_vectors(c.images) for c in (train, test, synthetic))
        return spaces

    def network(self, ctx: EvalContext) -> str:
        """The identity recorded in rows that do not use the evaluation's extractor."""
        return ""

    def score(self, ctx: EvalContext, synthetic: Cohort) -> list[Score]:
        out: list[Score] = []
        hib = {"authenticity": True, "near_copy_share": False, "nn_distance_ratio": None}
        spaces = self.spaces(ctx, synthetic)
        for space, (f_train, f_test, f_syn) in spaces.items():
            scores = memorisation_scores(f_train, f_test, f_syn, alpha=self.alpha)
            for set_name, values in scores.items():
                for metric, value in values.items():
                    q = {"set": set_name} if set_name != "synthetic" else {}
                    if space != "features":
                        q["space"] = space
                    n_synth = len(f_syn) if set_name == "synthetic" else len(f_test)
                    out.append(
                        Score(
                            metric,
                            value,
                            hib[metric],
                            q,
                            n_real=len(f_train),
                            n_synth=n_synth,
                            uses_features=space == "features",
                            network="" if space == "features" else self.network(ctx),
                        )
                    )
        if ctx.artifacts_dir is not None:
            f_train, _, f_syn = next(iter(spaces.values()))
            ctx.artifacts.append(self.closest_pairs_grid(ctx, synthetic, f_train, f_syn))
        return out

    def closest_pairs_grid(
        self, ctx: EvalContext, synthetic: Cohort, f_train: np.ndarray, f_syn: np.ndarray
    ) -> object:
        """PNG of the synthetic images closest (relative to local density, in the first space)
        to a training image: synthetic on the top row, their nearest training images below."""
        from synthbench.viz import image_grid

        d, i = nearest(f_syn, f_train)
        rel = d / np.maximum(knn_radii(f_train, 1)[i], 1e-12)
        top = np.argsort(rel, kind="stable")[: self.grid_pairs]
        syn_imgs, train_imgs = synthetic.images[top], ctx.real.train.images[i[top]]
        if syn_imgs.shape[1] != train_imgs.shape[1] or syn_imgs.shape[2:] != train_imgs.shape[2:]:
            train_imgs = syn_imgs * 0  # shapes differ: show the synthetic row only, blank below
        path = ctx.artifacts_dir / self.grid_name  # type: ignore[operator]
        title = "closest pairs: d/r " + " ".join(f"{v:.2f}" for v in rel[top])
        return image_grid(
            [("synthetic", syn_imgs), ("nearest train", train_imgs)], path, title=title
        )
