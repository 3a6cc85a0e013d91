"""The data-spec syntax and the contract every data source implements.

A data spec names a source, a dataset within it, and options, in string or TOML-table form::

    phantom:oct                                  # defaults
    phantom:oct,fundus?n=400&size=64&seed=1      # two modalities, options after '?'
    medmnist:pathmnist?root=/data/medmnist&size=28
    imagefolder:/data/my_images?split_seed=3
    hf:/data/my_saved_dataset?image_column=img

    [data]                                       # the same as a TOML table
    source = "phantom"
    name = "oct,fundus"
    n = 400

Every source returns :class:`RealData`: train / val / test cohorts split by patient with a fixed
seed (``split_seed``, default 0), unless the data set ships its own split.

Real data sets name their patients through a column (``patient_column`` for ``hf:`` and
``imagefolder:``). Without one, each image is its own patient, so one patient's images can land in
both train and test: the load warns once (:class:`PatientSplitWarning`), the cohorts' descriptions
say so, and :attr:`RealData.patient_split` (recorded in every result row) is ``"image"``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from synthbench.cohort import Cohort
from synthbench.errors import DataError, RegistryError


class SourceOptions(BaseModel):
    """Options every source accepts; sources subclass this with their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split_seed: int = 0
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)

    @field_validator("split")
    @classmethod
    def _fractions(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        # refused, not rescaled: a split that does not say what it means is a typo
        # (NaN fails the range test, so it never reaches numpy)
        if not all(0.0 <= f <= 1.0 for f in value) or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(
                "the train, val and test fractions must each be in [0, 1] and sum to 1"
            )
        return value


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec: ``source``, ``name`` and raw ``options`` (validated by the source)."""

    source: str
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, spec: str | dict[str, Any] | DataSpec) -> DataSpec:
        """Parse the string or table form; a malformed spec is a :class:`DataError`."""
        if isinstance(spec, DataSpec):
            return spec
        if isinstance(spec, dict):
            table = dict(spec)
            source, name = table.pop("source", None), table.pop("name", None)
            if not source or not name:
                raise DataError(
                    f"data spec table {spec!r} needs 'source' and 'name' keys, "
                    'e.g. {source = "phantom", name = "oct"}'
                )
            return cls(str(source), str(name), tuple(sorted(table.items())))
        if not isinstance(spec, str) or ":" not in spec:
            raise DataError(
                f"data spec {spec!r} must look like '<source>:<name>[?key=value&...]', "
                "e.g. 'phantom:oct' or 'imagefolder:/data/images'"
            )
        source, _, rest = spec.partition(":")
        name, _, query = rest.partition("?")
        if not source or not name:
            raise DataError(
                f"data spec {spec!r} needs both a source and a name, e.g. 'phantom:oct'"
            )
        try:
            options = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            raise DataError(
                f"data spec {spec!r}: options after '?' must be key=value pairs joined by '&'"
            ) from None
        return cls(source.strip(), name.strip(), tuple(sorted(options)))

    def __str__(self) -> str:
        query = "&".join(f"{k}={_fmt(v)}" for k, v in self.options)
        return f"{self.source}:{self.name}" + (f"?{query}" if query else "")


def _fmt(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


#: what a cohort's description says when its data set had no patient ids
IMAGE_LEVEL_NOTE = "no patient ids: each image is its own patient"


class PatientSplitWarning(UserWarning):
    """A real data set without patient ids: its splits are by image, not by patient."""


_warned: dict = {}  # warnings' once-per-message registry for these warnings


def image_level(description: str) -> str:
    """``description`` with the note that the data set had no patient ids."""
    return f"{description}; {IMAGE_LEVEL_NOTE}" if description else IMAGE_LEVEL_NOTE


def patient_split(cohort: Cohort) -> str:
    """``"patient"`` when the cohort's patient ids came from its data set, ``"image"`` when the data
    set had none and each image stands for its own patient (see :func:`image_level`)."""
    return "image" if IMAGE_LEVEL_NOTE in cohort.description else "patient"


def warn_no_patient_ids(spec: DataSpec | str, how_to_name: str) -> None:
    """One line, once per data spec and process: ``spec`` has no patient ids, so its splits are by
    image; ``how_to_name`` says how to give them."""
    warnings.warn_explicit(
        f"{spec}: no patient ids, so each image counts as its own patient (one patient's images "
        f"can be in both train and test); {how_to_name}",
        PatientSplitWarning,
        filename="synthbench",
        lineno=0,  # no source line: the warning prints as one line
        registry=_warned,
    )


@dataclass
class RealData:
    """Train / validation / test cohorts of one data spec, split by patient."""

    spec: str
    train: Cohort
    val: Cohort
    test: Cohort

    def splits(self) -> dict[str, Cohort]:
        return {"train": self.train, "val": self.val, "test": self.test}

    @property
    def patient_split(self) -> str:
        """``"patient"`` or ``"image"`` (the data set had no patient ids); see :func:`patient_split`."""
        levels = {patient_split(c) for c in self.splits().values()}
        return "image" if "image" in levels else "patient"

    def summary(self) -> str:
        return "\n".join(f"[{k}] {c.summary()}" for k, c in self.splits().items())


class DataSource:
    """A kind of data (phantom, medmnist, imagefolder, hf). Subclasses set ``Options`` and ``load``."""

    name: ClassVar[str]
    Options: ClassVar[type[SourceOptions]] = SourceOptions

    def options(self, spec: DataSpec) -> SourceOptions:
        """Validate the spec's options; unknown or ill-typed ones give a one-line error."""
        raw: dict[str, Any] = {}
        for key, value in spec.options:
            field = self.Options.model_fields.get(key)
            if field is not None and isinstance(value, str) and _is_sequence(field.annotation):
                value = [v for v in value.split(",") if v]
            raw[key] = value
        try:
            return self.Options.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "options"
            valid = ", ".join(self.Options.model_fields)
            if err["type"] == "extra_forbidden":
                raise DataError(
                    f"data spec {spec}: unknown option {key!r}; valid options: {valid}"
                ) from None
            # a validator's own message, without pydantic's "Value error, " before it
            message = err["ctx"]["error"] if err["type"] == "value_error" else err["msg"]
            raise DataError(
                f"data spec {spec}: option {key!r}: {message} (got {err.get('input')!r})"
            ) from None

    def load(self, spec: DataSpec) -> RealData:
        raise NotImplementedError(f"data source {type(self).__name__} does not implement load()")


def _is_sequence(annotation: Any) -> bool:
    text = str(annotation)
    return text.startswith(("tuple", "list", "typing.Tuple", "typing.List")) or "tuple[" in text


def split_cohort(cohort: Cohort, options: SourceOptions, spec: DataSpec) -> RealData:
    """Split one cohort by patient with the spec's fractions and seed."""
    train, val, test = cohort.split_by_patient(options.split, seed=options.split_seed)
    for part, c in (("train", train), ("val", val), ("test", test)):
        if len(c) == 0:
            raise DataError(
                f"data spec {spec}: the {part} split is empty ({len(cohort)} samples split {options.split}); "
                "use more samples or other split fractions"
            )
    return RealData(str(spec), train, val, test)


def get_source(name: str) -> DataSource:
    """The data source registered as ``name`` (instantiated)."""
    from synthbench import registry

    try:
        cls = registry.datasets.get(name)
    except RegistryError as exc:
        raise DataError(str(exc)) from None
    return cls()


def check_spec(spec: str | dict[str, Any] | DataSpec) -> DataSpec:
    """Parse a data spec and validate its options against its source, loading nothing; a bad
    spec is a :class:`DataError`."""
    parsed = DataSpec.parse(spec)
    get_source(parsed.source).options(parsed)
    return parsed


def load_data(spec: str | dict[str, Any] | DataSpec) -> RealData:
    """Load any data spec into train / val / test cohorts.

    >>> data = load_data("phantom:oct?n=40&size=16")
    >>> len(data.train) + len(data.val) + len(data.test)
    40
    """
    parsed = DataSpec.parse(spec)
    return get_source(parsed.source).load(parsed)
