"""``ssl``: SimCLR-style contrastive pretraining on unlabelled real + synthetic images, then a
linear probe and a kNN classifier on the labelled real training images.

>>> from synthbench.tasks.ssl import SSLConfig
>>> SSLConfig.for_profile("smoke").steps
6

The encoder (a timm backbone without head) and a two-layer projection head learn from two random
views of each image (zoomed crop, flip, shift, contrast, brightness, noise) with the NT-Xent loss
(Chen et al. 2020). Every image of the mix is used without its label. The frozen encoder's
pooled features of the real training images then fit a logistic-regression probe and a
cosine kNN classifier (scikit-learn), both scored on real test images (mean per-finding accuracy
for multi-label data). Rows carry ``qualifiers={"encoder": "ssl"}``; with ``compare_random_init``
the same probes on a randomly initialised encoder follow as the ``"random-init"`` reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.tasks.base import Metric, Task, TaskConfig, unlabelled

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.tasks.mixing import Mix


@dataclass(frozen=True)
class SSLConfig(TaskConfig):
    """Encoder, contrastive training and probe settings (defaults: the ``quick`` profile)."""

    backbone: str = "test_efficientnet"
    steps: int = 500
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    temperature: float = 0.2
    projection_dim: int = 64
    knn_k: int = 10
    probe_c: float = 1.0  # inverse L2 strength of the logistic-regression probe
    compare_random_init: bool = True

    PROFILES = {  # noqa: RUF012
        "smoke": {"steps": 6, "batch_size": 32, "knn_k": 3},
        "quick": {},
        "standard": {"backbone": "resnet18", "steps": 5000, "batch_size": 256, "lr": 1e-3},
    }


def two_views(x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return _view(x, generator), _view(x, generator)


def _view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random view per image: zoom into 60-100% of it, flip, shift, intensity, noise."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    u = torch.rand(n, 6, generator=generator)
    zoom = 0.6 + 0.4 * u[:, 0]  # the share of the image side the view keeps
    flip = torch.where(u[:, 1] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = flip * zoom
    theta[:, 1, 1] = zoom
    theta[:, 0, 2] = (1 - zoom) * (2 * u[:, 2] - 1)
    theta[:, 1, 2] = (1 - zoom) * (2 * u[:, 3] - 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = (1.0 + 0.4 * (2 * u[:, 4] - 1)).view(n, 1, 1, 1)
    bright = (0.2 * (2 * u[:, 5] - 1)).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + bright
    out = out + 0.03 * torch.randn(out.shape, generator=generator)
    return out.clamp_(0.0, 1.0)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The SimCLR loss: each view must pick its partner among the 2n - 1 other views."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = len(z1)
    sim.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, partner)


class SSL(Task):
    """Contrastive pretraining, judged by linear-probe and kNN accuracy on real labels."""

    name = "ssl"
    Config = SSLConfig

    @classmethod
    def serves(cls, data: RealData) -> str | None:
        return unlabelled(data)

    config: SSLConfig

    def _run(
        self, train: Mix, val: Cohort, test: Cohort, *, seed: int, out_dir: Path | None
    ) -> list[Metric]:
        import torch
        from torch import nn

        from synthbench.nets import ClassSpace
        from synthbench.tasks.training import batches, build_backbone, images_tensor

        cfg = self.config
        labelled = train.cohort.subset(np.flatnonzero(~train.is_synthetic))
        if len(labelled) == 0:
            raise SynthbenchError(
                "ssl: the probes train on the labelled real images of the mix, and it has none "
                "(synthetic-only mixes cannot be probed)"
            )
        space = ClassSpace.of(labelled)
        x_all = images_tensor(train.cohort.images)
        in_chans = x_all.shape[1]
        # the random-init reference is built first, so its weights do not depend on the steps
        random_encoder = build_backbone(cfg.backbone, in_chans=in_chans, num_classes=0)
        encoder = build_backbone(cfg.backbone, in_chans=in_chans, num_classes=0)
        width = encoder.num_features
        head = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, cfg.projection_dim)
        )
        params = [*encoder.parameters(), *head.parameters()]
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 1), pct_start=0.1
        )
        gen = torch.Generator().manual_seed(seed)
        encoder.train()
        head.train()
        for idx in batches(len(x_all), cfg.batch_size, gen, cfg.steps):
            v1, v2 = two_views(x_all[idx], gen)
            loss = nt_xent(head(encoder(v1)), head(encoder(v2)), cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()

        metrics = self._probe(encoder, labelled, test, space, "ssl")
        if cfg.compare_random_init:
            metrics += self._probe(random_encoder, labelled, test, space, "random-init")
        return metrics

    def _probe(self, encoder, labelled: Cohort, test: Cohort, space, name: str) -> list[Metric]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rows, y = space.targets(labelled)
        test_rows, y_test = space.targets(test)
        if len(test_rows) < len(test):
            raise SynthbenchError("ssl: some test images have a class the training set lacks")
        f_train = features(encoder, labelled.images[rows])
        f_test = features(encoder, test.images)
        multilabel = space.kind == "findings"
        logistic = LogisticRegression(C=self.config.probe_c, max_iter=2000)
        probe = make_pipeline(
            StandardScaler(), OneVsRestClassifier(logistic) if multilabel else logistic
        )
        knn = KNeighborsClassifier(n_neighbors=min(self.config.knn_k, len(rows)), metric="cosine")
        out = []
        for metric, model in (("probe_accuracy", probe), ("knn_accuracy", knn)):
            if not multilabel and len(np.unique(y)) < 2:
                raise SynthbenchError("ssl: the labelled real images hold a single class")
            pred = model.fit(f_train, y).predict(f_test)
            accuracy = float((pred == y_test).mean())  # multi-label: mean per-finding accuracy
            out.append(Metric(metric, accuracy, True, {"encoder": name}))
        return out


def features(encoder, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Pooled encoder features (eval mode) as float64 numpy."""
    from synthbench.tasks.training import images_tensor, predict

    return predict(encoder, images_tensor(images), batch_size=batch_size).double().numpy()
