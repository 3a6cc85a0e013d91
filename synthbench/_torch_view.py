"""The torch view of a Cohort (imported only when torch is wanted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from synthbench.cohort import Cohort


class CohortDataset(Dataset):
    """``(image, target)`` pairs: float32 images in [0, 1]; the class label, or for multi-label
    cohorts the float findings vector. ``transform`` is applied to the image tensor."""

    def __init__(self, cohort: Cohort, transform: Any = None) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(cohort.images))
        if cohort.multilabel:
            self.targets = torch.from_numpy(cohort.findings.astype(np.float32))
        else:
            self.targets = torch.from_numpy(cohort.label.astype(np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index].float().div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]
