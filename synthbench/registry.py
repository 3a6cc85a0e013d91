"""One typed registry for generators, tasks, metrics, feature extractors and data sources.

>>> from synthbench.registry import datasets
>>> "phantom" in datasets.names()
True

Built-ins are registered lazily as ``"module:attr"`` strings, so listing names imports nothing
heavy. Third-party packages add components through entry-point groups (``synthbench.generators``,
``synthbench.tasks``, ``synthbench.metrics``, ``synthbench.datasets``,
``synthbench.feature_extractors``) without editing synthbench. A name registered twice is an
error; an unknown name answers with the closest known names; a plugin that fails to import
raises with its name and the entry point that declared it.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from synthbench.errors import RegistryError

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    target: str | Any  # "module:attr" (lazy) or the object itself
    origin: str  # "built-in", "registered", or "entry point <dist> (<group>)"


class Registry(Generic[T]):
    """Named components of one kind.

    ``base`` (a class, or a lazy ``"module:attr"`` string) is checked on lookup: a registered class
    must subclass it. ``group`` is the entry-point group scanned for plugins.
    """

    def __init__(
        self, kind: str, *, group: str | None = None, base: type | str | None = None
    ) -> None:
        self.kind = kind
        self.group = group
        self._base = base
        self._entries: dict[str, _Entry] = {}
        self._loaded: dict[str, T] = {}

    # ------------------------------------------------------------------ registration
    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@generators.register("my-gen")`` on a class or factory."""

        def deco(obj: T) -> T:
            self.add(name or getattr(obj, "name", None) or obj.__name__, obj)  # type: ignore[attr-defined]
            return obj

        return deco

    def add(self, name: str, target: str | T, *, origin: str = "registered") -> None:
        """Register ``target`` (an object, or a lazy ``"module:attr"`` string) under ``name``."""
        if not name or not isinstance(name, str):
            raise RegistryError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            existing = self._entries[name]
            if isinstance(target, str) or existing.target is not target:
                raise RegistryError(
                    f"{self.kind} {name!r} is already registered ({existing.origin}); pick another name"
                )
            return
        self._entries[name] = _Entry(target, origin)

    def _entry_points(self) -> dict[str, _Entry]:
        if not self.group:
            return {}
        found: dict[str, _Entry] = {}
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(ep.dist, "name", None) or "unknown distribution"
            origin = f"entry point of {dist} ({self.group})"
            if ep.name in self._entries or ep.name in found:
                other = self._entries.get(ep.name) or found[ep.name]
                if (other.target if isinstance(other.target, str) else None) == ep.value:
                    continue  # the same distribution seen twice on sys.path
                raise RegistryError(
                    f"{self.kind} {ep.name!r} from {origin} clashes with {other.origin}; "
                    "one of them must be renamed"
                )
            found[ep.name] = _Entry(ep.value, origin)
        return found

    def _all(self) -> dict[str, _Entry]:
        return {**self._entries, **self._entry_points()}

    # ------------------------------------------------------------------ lookup
    def names(self) -> list[str]:
        """All names, sorted, without importing any component."""
        return sorted(self._all())

    def origins(self) -> dict[str, str]:
        """Name -> where it came from (built-in, registered, or which entry point)."""
        return {k: e.origin for k, e in sorted(self._all().items())}

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def get(self, name: str) -> T:
        """The component called ``name``, imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        entries = self._all()
        if name not in entries:
            close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(entries)) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        entry = entries[name]
        obj = entry.target
        if isinstance(obj, str):
            try:
                obj = _import(obj)
            except Exception as exc:
                raise RegistryError(
                    f"{self.kind} {name!r} ({entry.origin}, {entry.target}) failed to import: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        base = _import(self._base) if isinstance(self._base, str) else self._base
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            what = obj.__qualname__ if isinstance(obj, type) else repr(obj)
            raise RegistryError(
                f"{self.kind} {name!r} ({entry.origin}) is {what}, "
                f"which is not a subclass of {base.__qualname__}"
            )
        self._loaded[name] = obj  # type: ignore[assignment]
        return obj  # type: ignore[return-value]


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _builtins(registry: Registry[Any], entries: dict[str, str]) -> Registry[Any]:
    for name, target in entries.items():
        registry.add(name, target, origin="built-in")
    return registry


def builtin_names(registry: Registry[Any]) -> list[str]:
    """The names a registry ships with (what conformance tests loop over)."""
    return sorted(n for n, origin in registry.origins().items() if origin == "built-in")


generators: Registry[Any] = _builtins(
    Registry(
        "generator", group="synthbench.generators", base="synthbench.generators.base:Generator"
    ),
    {
        "real-only": "synthbench.generators.real_only:RealOnly",
        "classical-aug": "synthbench.generators.classical_aug:ClassicalAug",
        "ddpm": "synthbench.generators.ddpm:DDPM",
        "cgan": "synthbench.generators.cgan:CGAN",
        "cvae": "synthbench.generators.cvae:CVAE",
        "minim": "synthbench.generators.minim:Minim",
        "folder": "synthbench.generators.folder:Folder",
        "diffusers": "synthbench.generators.diffusers_pipeline:DiffusersPipeline",
        "best-of-n": "synthbench.generators.best_of_n:BestOfN",
        "minim-adapted": "synthbench.generators.adapt:AdaptedMinim",
    },
)
tasks: Registry[Any] = _builtins(
    Registry("task", group="synthbench.tasks", base="synthbench.tasks.base:Task"),
    {
        "classification": "synthbench.tasks.classification:Classification",
        "report-generation": "synthbench.tasks.report_generation:ReportGeneration",
        "ssl": "synthbench.tasks.ssl:SSL",
        "biomarker-survival": "synthbench.tasks.biomarker_survival:BiomarkerSurvival",
    },
)
metrics: Registry[Any] = _builtins(
    Registry("metric", group="synthbench.metrics", base="synthbench.metrics.base:QualityMetric"),
    {
        "fd": "synthbench.metrics.distribution:FD",
        "kd": "synthbench.metrics.distribution:KD",
        "prdc": "synthbench.metrics.distribution:PRDC",
        "is": "synthbench.metrics.distribution:IS",
        "diversity": "synthbench.metrics.diversity:Diversity",
        "memorisation": "synthbench.metrics.memorisation:Memorisation",
        "copy-detection": "synthbench.metrics.copy_detect:CopyDetection",
        "cas": "synthbench.metrics.cas:CAS",
        "prompt-adherence": "synthbench.metrics.adherence:PromptAdherence",
        "retrieval": "synthbench.metrics.retrieval:Retrieval",
    },
)
feature_extractors: Registry[Any] = _builtins(
    Registry(
        "feature extractor",
        group="synthbench.feature_extractors",
        base="synthbench.metrics.features:FeatureExtractor",
    ),
    {
        "domain": "synthbench.metrics.features:DomainExtractor",
        "inception": "synthbench.metrics.inception:InceptionExtractor",
        "local": "synthbench.metrics.local_encoder:LocalEncoder",
        "autoencoder": "synthbench.metrics.autoencoder:AutoencoderExtractor",
        "contrastive": "synthbench.metrics.contrastive:ContrastiveExtractor",
    },
)
datasets: Registry[Any] = _builtins(
    Registry("data source", group="synthbench.datasets", base="synthbench.data.source:DataSource"),
    {
        "phantom": "synthbench.data.phantom_source:PhantomSource",
        "medmnist": "synthbench.data.medmnist_source:MedMNISTSource",
        "imagefolder": "synthbench.data.imagefolder_source:ImageFolderSource",
        "hf": "synthbench.data.hf_source:HFSource",
    },
)

REGISTRIES: dict[str, Registry[Any]] = {
    "generators": generators,
    "tasks": tasks,
    "metrics": metrics,
    "feature-extractors": feature_extractors,
    "datasets": datasets,
}
