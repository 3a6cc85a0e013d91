"""The task contract: configs per budget profile, ``run(train, val, test, *, seed) -> rows``.

>>> from synthbench.tasks.base import TaskConfig
>>> TaskConfig.for_profile("smoke").to_dict()
{}

A task is a class with a frozen :class:`TaskConfig` (defaults = the ``quick`` profile, overrides
per profile in ``PROFILES``) and one method, ``_run``, that trains on the (mixed) training set,
evaluates on real test data and returns metric values. The base class turns them into tidy
:class:`~synthbench.results.ResultRow` s carrying the mix (``synth_ratio``, ``n_real``, ``n_synth``),
the data set and whether it was split by patient (``patient_split``), the generator and the
protocol, and writes the rows and the task's artifacts (predictions CSV, plots) into ``out_dir``
when one is given.

``train`` is a real :class:`~synthbench.cohort.Cohort` (real only) or a
:class:`~synthbench.tasks.mixing.Mix` built by :func:`~synthbench.tasks.mixing.mix`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from synthbench.config import ProfiledConfig
from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.results import ResultRow
    from synthbench.tasks.mixing import Mix

ROWS_FILE = "rows.jsonl"


@dataclass(frozen=True)
class TaskConfig(ProfiledConfig):
    """Base of every task's settings; ``for_profile`` builds the config of a budget profile."""

    HASH_KIND: ClassVar[str] = "task"


@dataclass
class Metric:
    """One value a task measured; the base class adds the context to make a ResultRow."""

    metric: str
    value: float
    higher_is_better: bool | None = None
    qualifiers: dict[str, str] = field(default_factory=dict)


class Task:
    """Base class of every downstream task; see the module docstring."""

    name: ClassVar[str]
    Config: ClassVar[type[TaskConfig]] = TaskConfig

    def __init__(self, config: TaskConfig | None = None, *, profile: str | None = None) -> None:
        #: the profile the config was built from, recorded in rows ("custom": a config given
        #: without naming one; overrides show in the rows' task_config_hash)
        self.profile = profile or ("custom" if config is not None else "quick")
        if config is None:
            config = self.Config.for_profile(self.profile)
        if not isinstance(config, self.Config):
            raise SynthbenchError(
                f"{self.name} takes a {self.Config.__qualname__}, got {type(config).__qualname__}"
            )
        self.config = config
        #: artifact name -> file written by the last run (empty without ``out_dir``)
        self.artifacts_: dict[str, Path] = {}
        #: the rows of the mix a task actually trained on, when it keeps only some (the
        #: biomarker task keeps samples with a known status); rows record its counts
        self.used_mix_: Mix | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    @classmethod
    def serves(cls, data: RealData) -> str | None:
        """Why the task cannot run on a data set, or None when it can (checked before a suite
        runs, so a bad combination fails in one line instead of mid-run)."""
        return None

    def run(
        self,
        train: Cohort | Mix,
        val: Cohort,
        test: Cohort,
        *,
        seed: int = 0,
        out_dir: str | Path | None = None,
    ) -> list[ResultRow]:
        """Train on ``train`` (real, or a mix), select on real ``val``, score on real ``test``.

        The same seed gives the same rows. With ``out_dir``, the rows (``rows.jsonl``) and the
        task's artifacts are written there; :attr:`artifacts_` lists them. A run that fails
        removes the folders it made for ``out_dir``.
        """
        from synthbench.data.source import patient_split
        from synthbench.results import ResultRow, write_rows
        from synthbench.tasks.mixing import Mix, real_only

        mixed = train if isinstance(train, Mix) else real_only(train)
        for part, cohort in (("val", val), ("test", test)):
            if len(cohort) == 0:
                raise SynthbenchError(f"{self.name}: the {part} cohort is empty")
        folder = Path(out_dir) if out_dir is not None else None
        made = None  # the outermost folder this run makes, removed again if the run fails
        if folder is not None and not folder.exists():
            made = folder
            while not made.parent.exists():
                made = made.parent
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self.artifacts_ = {}
        self.used_mix_ = None
        t0 = time.perf_counter()
        try:
            with seeded(seed):
                metrics = self._run(mixed, val, test, seed=seed, out_dir=folder)
        except BaseException:
            if made is not None:
                import shutil

                shutil.rmtree(made, ignore_errors=True)
            raise
        seconds = time.perf_counter() - t0
        used = self.used_mix_ or mixed
        context = used.row_context()
        rows = [
            ResultRow(
                dataset=_dataset_of(test),
                patient_split=patient_split(test),
                task=self.name,
                profile=self.profile,
                task_config_hash=self.config.config_hash(self.name),
                metric=m.metric,
                qualifiers={**used.qualifiers(), **m.qualifiers},
                value=float(m.value),
                higher_is_better=m.higher_is_better,
                seed=seed,
                wall_seconds=round(seconds, 3),
                **context,
            )
            for m in metrics
        ]
        if folder is not None:
            self.artifacts_["rows"] = write_rows(folder / ROWS_FILE, rows)
        return rows

    def _run(
        self, train: Mix, val: Cohort, test: Cohort, *, seed: int, out_dir: Path | None
    ) -> list[Metric]:
        raise NotImplementedError


def unlabelled(data: RealData) -> str | None:
    """Why a task that learns classes cannot run on a data set (None when it can)."""
    train = data.train
    if (train.label < 0).all() and not train.findings.any():
        return "its training images have no class labels or findings"
    return None


def _dataset_of(cohort: Cohort) -> str:
    sources = list(dict.fromkeys(cohort.source))
    return sources[0] if len(sources) == 1 else "+".join(sources)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's and numpy's global generators seeded, restoring them after, so
    a task's randomness depends on its ``seed`` argument alone and leaks nowhere."""
    import numpy as np
    import torch

    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(np_state)


# ---------------------------------------------------------------------------------- lookup
def get_task_class(name: str) -> type[Task]:
    """The task class registered as ``name`` (built-ins and plugins)."""
    from synthbench import registry

    return registry.tasks.get(name)


def create_task(name: str, *, profile: str = "quick", **overrides: Any) -> Task:
    """A task by name with its profile config and overrides, e.g.
    ``create_task("classification", profile="smoke", epochs=2)``."""
    cls = get_task_class(name)
    return cls(cls.Config.for_profile(profile, **overrides), profile=profile)
