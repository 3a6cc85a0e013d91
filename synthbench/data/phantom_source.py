"""``phantom:<modality>[,<modality>...]``: simulated patients with known truth (the default data)."""

from __future__ import annotations

from pydantic import Field

from synthbench.cohort import Cohort
from synthbench.data.source import DataSource, DataSpec, RealData, SourceOptions, split_cohort
from synthbench.errors import DataError


class PhantomOptions(SourceOptions):
    n: int = Field(1000, ge=3, description="patients per modality, all splits together")
    size: int = Field(32, ge=16, le=256, description="image size in pixels")
    difficulty: float = Field(0.5, ge=0.0, le=1.0, description="0 overt findings, 1 barely visible")
    seed: int = Field(0, description="simulation seed")
    view: str = Field(
        "full",
        description="'full' image, or 'nodule' (chest_ct: a window centred on the nodule, "
        "or on a lung spot for patients without one, at 4x the resolution)",
    )


class PhantomSource(DataSource):
    """Phantoms of one or more modalities (``phantom:all`` for all six), split by patient.

    Several modalities make one cohort: grayscale ones are replicated to 3 channels when an RGB
    modality is present, and each sample keeps its native channel count.
    """

    name = "phantom"
    Options = PhantomOptions

    def load(self, spec: DataSpec) -> RealData:
        from synthbench.data.phantoms import MODALITIES, simulate

        opts = self.options(spec)
        assert isinstance(opts, PhantomOptions)
        names = (
            list(MODALITIES) if spec.name == "all" else [m.strip() for m in spec.name.split(",")]
        )
        for m in names:
            if m not in MODALITIES:
                raise DataError(
                    f"data spec {spec}: unknown phantom modality {m!r}; valid: {', '.join(MODALITIES)}, all"
                )
        from synthbench.data.phantoms import get_modality

        for m in names:
            views = get_modality(m).views
            if opts.view not in views:
                raise DataError(
                    f"data spec {spec}: phantom {m} has no view {opts.view!r}; valid: {', '.join(views)}"
                )
        cohorts = [
            Cohort.from_phantom(
                simulate(
                    m,
                    opts.n,
                    size=opts.size,
                    difficulty=opts.difficulty,
                    seed=opts.seed,
                    view=opts.view,
                ),
                source=str(spec),
            )
            for m in dict.fromkeys(names)
        ]
        cohort = cohorts[0] if len(cohorts) == 1 else Cohort.concat(cohorts)
        view = "" if opts.view == "full" else f", {opts.view} view"
        cohort.description = f"phantom {'+'.join(dict.fromkeys(names))}, {opts.size}px{view}, difficulty {opts.difficulty}, seed {opts.seed}"
        return split_cohort(cohort, opts, spec)
