"""What a generator is asked to make: conditions, and the schema of the data it was fit on.

>>> import numpy as np
>>> from synthbench.generators.conditions import Conditions
>>> Conditions.from_prompts(["OCT: large drusen.", "OCT: normal macula."]).text
('OCT: large drusen.', 'OCT: normal macula.')

Conditions come in four forms:

- ``Conditions.from_labels(labels, modality="oct")``: class labels (names or indices);
- ``Conditions.from_prompts(prompts)``: ``"Modality: findings"`` reports, the modality read from
  the prefix by the generator;
- ``Conditions.like(cohort)``: the same conditions as a real cohort (its modalities, labels,
  findings and reports), one row per sample;
- an ``int`` ``n`` passed to ``Generator.sample``: ``n`` rows balanced over the training
  modalities and classes, each row's findings drawn from the training conditions by frequency
  and its prompt rebuilt from them (``"OCT: drusen."``).

A :class:`CohortSchema` records what a generator was fit on (image shape, modalities, native
channels, classes, findings, prompt prefixes, and how often each combination of label and
findings occurred), so its output cohorts share the training data's schema and balanced
conditions need no training data. It holds no training text: a checkpoint carries no report.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

_PREFIX = re.compile(r"^\s*([^:]{1,40}):")


def prompt_prefix(text: str) -> str | None:
    """The ``"Modality"`` part of a ``"Modality: findings"`` prompt, or None."""
    match = _PREFIX.match(text or "")
    return match.group(1).strip() if match else None


@dataclass(frozen=True)
class Conditions:
    """One row per image to make. ``modality`` entries may be None (read from the prompt);
    ``label`` is -1 where none is given; ``text`` is '' where no prompt is given; ``findings``
    names the findings asserted per row (empty tuples where unknown); ``biomarker`` is the
    biomarker status of the patient a row imitates (None where unknown or none)."""

    modality: tuple[str | None, ...]
    label: tuple[int | str, ...]
    text: tuple[str, ...]
    findings: tuple[tuple[str, ...], ...] = ()
    biomarker: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.modality)
        if len(self.label) != n or len(self.text) != n:
            raise SynthbenchError(
                f"conditions need one modality, label and text per row, got {n}, {len(self.label)}, {len(self.text)}"
            )
        if not self.findings:
            object.__setattr__(self, "findings", ((),) * n)
        elif len(self.findings) != n:
            raise SynthbenchError(
                f"conditions have {len(self.findings)} findings rows for {n} rows"
            )
        if not self.biomarker:
            object.__setattr__(self, "biomarker", (None,) * n)
        elif len(self.biomarker) != n:
            raise SynthbenchError(
                f"conditions have {len(self.biomarker)} biomarker values for {n} rows"
            )

    def __len__(self) -> int:
        return len(self.modality)

    @classmethod
    def from_labels(
        cls, labels: Sequence[int | str], *, modality: str | Sequence[str] | None = None
    ) -> Conditions:
        """Class labels, as indices or names; ``modality`` may be omitted when the model has one."""
        n = len(labels)
        mods = (modality,) * n if modality is None or isinstance(modality, str) else tuple(modality)
        return cls(modality=mods, label=tuple(labels), text=("",) * n)

    @classmethod
    def from_prompts(cls, prompts: Sequence[str]) -> Conditions:
        """``"Modality: findings"`` prompts; the generator resolves the modality from the prefix."""
        prompts = [str(p) for p in prompts]
        return cls(modality=(None,) * len(prompts), label=(-1,) * len(prompts), text=tuple(prompts))

    @classmethod
    def like(cls, cohort: Cohort) -> Conditions:
        """The conditions of every sample of a real cohort: modality, label, findings, report
        and biomarker status."""
        names = np.asarray(cohort.finding_names, dtype=object)
        return cls(
            modality=tuple(str(m) for m in cohort.modality),
            label=tuple(int(v) for v in cohort.label),
            text=tuple(cohort.text),
            findings=tuple(tuple(names[row].tolist()) for row in cohort.findings),
            biomarker=tuple(None if np.isnan(v) else float(v) for v in cohort.biomarker),
        )

    def subset(self, start: int, stop: int) -> Conditions:
        return Conditions(
            modality=self.modality[start:stop],
            label=self.label[start:stop],
            text=self.text[start:stop],
            findings=self.findings[start:stop],
            biomarker=self.biomarker[start:stop],
        )


@dataclass(frozen=True)
class ResolvedConditions:
    """Conditions checked against a schema: every row has a known modality and a label index
    (-1 for none or multi-label), findings as a bool matrix, and a prompt; ``biomarker``: the
    status of the patient a row imitates where its prompt is that patient's report (None: none
    known)."""

    modality: tuple[str, ...]
    label: np.ndarray
    findings: np.ndarray
    text: tuple[str, ...]
    biomarker: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.modality)

    def subset(self, start: int, stop: int) -> ResolvedConditions:
        return ResolvedConditions(
            self.modality[start:stop],
            self.label[start:stop],
            self.findings[start:stop],
            self.text[start:stop],
            None if self.biomarker is None else self.biomarker[start:stop],
        )


@dataclass(frozen=True)
class CohortSchema:
    """What a generator was fit on; saved in its checkpoint (JSON)."""

    image_shape: tuple[int, int, int]
    modalities: tuple[str, ...]
    channels: dict[str, int]
    label_names: dict[str, list[str]]
    finding_names: list[str]
    prompt_names: dict[str, str]
    #: per modality, per class ("-1" for multi-label): each combination of label and findings
    #: of the training rows with how many rows had it, as [label, [findings], count], most
    #: frequent first
    conditions: dict[str, dict[str, list[list[Any]]]] = field(default_factory=dict)
    biomarker_name: str | None = None

    @classmethod
    def of(cls, cohort: Cohort, *, seed: int = 0) -> CohortSchema:
        """The schema of a training cohort (``seed`` is accepted for callers that pass one;
        the schema is the same for every seed)."""
        if len(cohort) == 0:
            raise SynthbenchError("cannot fit a generator on an empty cohort")
        channels, prompts, conditions = {}, {}, {}
        names = np.asarray(cohort.finding_names, dtype=object)
        for mod in cohort.modalities:
            rows = np.flatnonzero(cohort.modality == mod)
            channels[mod] = int(cohort.channels[rows[0]])
            found = [prompt_prefix(cohort.text[i]) for i in rows[:64]]
            found = [p for p in found if p]
            prompts[mod] = max(set(found), key=found.count) if found else mod
            conditions[mod] = {}
            for label in sorted(set(cohort.label[rows].tolist())):
                in_class = rows[cohort.label[rows] == label]
                combos = Counter(tuple(names[cohort.findings[i]].tolist()) for i in in_class)
                conditions[mod][str(label)] = [
                    [int(label), list(f), n]
                    for f, n in sorted(combos.items(), key=lambda item: (-item[1], item[0]))
                ]
        return cls(
            image_shape=cohort.image_shape,
            modalities=tuple(cohort.modalities),
            channels=channels,
            label_names={m: list(cohort.label_names.get(m, [])) for m in cohort.modalities},
            finding_names=list(cohort.finding_names),
            prompt_names=prompts,
            conditions=conditions,
            biomarker_name=cohort.biomarker_name,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "image_shape": list(self.image_shape),
            "modalities": list(self.modalities),
            "channels": self.channels,
            "label_names": self.label_names,
            "finding_names": self.finding_names,
            "prompt_names": self.prompt_names,
            "conditions": self.conditions,
            "biomarker_name": self.biomarker_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CohortSchema:
        """The schema as ``to_json`` wrote it; one written before it held condition counts
        (with a ``bank`` of training rows and their reports) reads with the reports dropped."""
        conditions = data["conditions"] if "conditions" in data else _counted(data.get("bank", {}))
        return cls(
            image_shape=tuple(data["image_shape"]),  # type: ignore[arg-type]
            modalities=tuple(data["modalities"]),
            channels={k: int(v) for k, v in data["channels"].items()},
            label_names={k: list(v) for k, v in data["label_names"].items()},
            finding_names=list(data["finding_names"]),
            prompt_names=dict(data["prompt_names"]),
            conditions=conditions,
            biomarker_name=data.get("biomarker_name"),
        )

    # ------------------------------------------------------------------ classes
    def class_index(self) -> dict[tuple[str, int], int]:
        """(modality, label) -> a global class index over all modalities; multi-label and
        unlabelled modalities get one class (label -1) each."""
        index: dict[tuple[str, int], int] = {}
        for mod in self.modalities:
            names = self.label_names.get(mod) or []
            labels = range(len(names)) if names else [-1]
            for k in labels:
                index[(mod, k)] = len(index)
        return index

    # ------------------------------------------------------------------ conditions
    def modality_of_prompt(self, text: str) -> str:
        """The training modality a prompt's prefix names; an unknown one is a clear error."""
        prefix = prompt_prefix(text)
        if prefix is None:
            if len(self.modalities) == 1:
                return self.modalities[0]
            raise SynthbenchError(
                f"prompt {text[:60]!r} does not start with 'Modality:'; this model knows "
                + ", ".join(self.prompt_names[m] for m in self.modalities)
            )
        key = prefix.lower()
        for mod in self.modalities:
            if key in (self.prompt_names[mod].lower(), mod.lower(), mod.replace("_", " ").lower()):
                return mod
        raise SynthbenchError(
            f"prompt modality {prefix!r} was never seen in training; this model knows "
            + ", ".join(f"{self.prompt_names[m]!r}" for m in self.modalities)
        )

    def resolve(self, conditions: Conditions) -> ResolvedConditions:
        """Check conditions against the schema: modalities known, labels valid, names mapped."""
        n = len(conditions)
        mods: list[str] = []
        labels = np.full(n, -1, np.int64)
        findings = np.zeros((n, len(self.finding_names)), bool)
        col = {f: j for j, f in enumerate(self.finding_names)}
        for i in range(n):
            mod, text, label = conditions.modality[i], conditions.text[i], conditions.label[i]
            if mod is None:
                if text:
                    mod = self.modality_of_prompt(text)
                elif len(self.modalities) == 1:
                    mod = self.modalities[0]
                else:
                    raise SynthbenchError(
                        f"condition {i} names no modality; this model knows {', '.join(self.modalities)}"
                    )
            elif mod not in self.modalities:
                raise SynthbenchError(
                    f"modality {mod!r} was never seen in training; this model knows {', '.join(self.modalities)}"
                )
            elif text and prompt_prefix(text) and self.modality_of_prompt(text) != mod:
                raise SynthbenchError(f"condition {i}: prompt {text[:40]!r} is not a {mod} prompt")
            names = self.label_names.get(mod) or []
            if isinstance(label, str) and not label.lstrip("-").isdigit():
                if label not in names:
                    raise SynthbenchError(
                        f"unknown {mod} class {label!r}; valid: {', '.join(names) or 'none (no classes)'}"
                    )
                label = names.index(label)
            label = int(label)
            if label >= len(names) or label < -1:
                raise SynthbenchError(
                    f"{mod} class index {label} out of range; valid: 0..{len(names) - 1} ({', '.join(names)})"
                )
            for f in conditions.findings[i]:
                if f not in col:
                    raise SynthbenchError(f"unknown finding {f!r}; valid: {', '.join(col)}")
                findings[i, col[f]] = True
            if label > 0 and not conditions.findings[i] and names[label] in col:
                findings[i, col[names[label]]] = True
            mods.append(mod)
            labels[i] = label
        biomarker = np.asarray(
            [np.nan if v is None else v for v in conditions.biomarker], np.float64
        )
        return ResolvedConditions(tuple(mods), labels, findings, tuple(conditions.text), biomarker)

    def prompt(self, modality: str, label: int, findings: Sequence[str]) -> str:
        """A prompt rebuilt from a condition: ``"<Modality>: <findings or class>."``, e.g.
        ``"OCT: drusen."``, ``"CXR: cardiomegaly, effusion."``, ``"CXR: no finding."``."""
        names = self.label_names.get(modality) or []
        if findings:
            body = ", ".join(findings)
        elif 0 <= label < len(names):
            body = names[label]
        else:
            body = "no finding"
        return f"{self.prompt_names.get(modality, modality)}: {body.replace('_', ' ')}."

    def _draw(self, rows: list[list[Any]], rng: np.random.Generator) -> list[Any]:
        """One [label, findings, count] row, drawn by its count."""
        counts = np.asarray([r[2] for r in rows], np.float64)
        return rows[int(rng.choice(len(rows), p=counts / counts.sum()))]

    def fill_prompts(self, conditions: ResolvedConditions, *, seed: int) -> ResolvedConditions:
        """Give rows without a prompt one rebuilt from their findings (see :meth:`prompt`); a
        row without findings takes a training condition of its modality and class (any class
        of the modality when it has no label), drawn by frequency. For text-conditioned
        generators. A row given a prompt here claims no biomarker status (the prompt does not
        describe the patient the status came from)."""
        rng = np.random.default_rng([seed, 11])
        texts = list(conditions.text)
        biomarker = None if conditions.biomarker is None else conditions.biomarker.copy()
        labels = conditions.label.copy()
        findings = conditions.findings.copy()
        col = {f: j for j, f in enumerate(self.finding_names)}
        for i, text in enumerate(texts):
            if text:
                continue
            mod, label = conditions.modality[i], int(conditions.label[i])
            if not findings[i].any():
                by_class = self.conditions.get(mod, {})
                rows = by_class.get(str(label)) if label >= 0 else None
                if not rows:
                    rows = [r for key in sorted(by_class, key=int) for r in by_class[key]]
                if not rows:
                    raise SynthbenchError(f"no training conditions of {mod} to prompt with")
                row_label, row_findings, _ = self._draw(rows, rng)
                labels[i] = row_label if label < 0 else label
                for f in row_findings:
                    findings[i, col[f]] = True
            names = [self.finding_names[j] for j in np.flatnonzero(findings[i])]
            texts[i] = self.prompt(mod, int(labels[i]), names)
            if biomarker is not None:
                biomarker[i] = np.nan
        return ResolvedConditions(conditions.modality, labels, findings, tuple(texts), biomarker)

    def balanced(self, n: int, *, seed: int) -> Conditions:
        """``n`` conditions: modalities in equal shares, classes in equal shares within each,
        each row's findings drawn from its class's training conditions by frequency, with a
        prompt rebuilt from them."""
        if n < 0:
            raise SynthbenchError(f"the number of images must be at least 0, got {n}")
        rng = np.random.default_rng([seed, 7])
        cells = [
            (m, k) for m in self.modalities for k in sorted(self.conditions.get(m, {}), key=int)
        ]
        cells_per_mod = {m: [c for c in cells if c[0] == m] for m in self.modalities}
        mods, labels, texts, finds = [], [], [], []
        for i in range(n):
            mod = self.modalities[i % len(self.modalities)]
            mod_cells = cells_per_mod[mod]
            _, key = mod_cells[(i // len(self.modalities)) % len(mod_cells)]
            label, row_findings, _ = self._draw(self.conditions[mod][key], rng)
            mods.append(mod)
            labels.append(int(label))
            texts.append(self.prompt(mod, int(label), row_findings))
            finds.append(tuple(row_findings))
        order = rng.permutation(n)
        return Conditions(
            modality=tuple(mods[j] for j in order),
            label=tuple(labels[j] for j in order),
            text=tuple(texts[j] for j in order),
            findings=tuple(finds[j] for j in order),
        )


def _counted(bank: dict[str, dict[str, list[list[Any]]]]) -> dict[str, dict[str, list[list[Any]]]]:
    """Condition counts from an old schema's ``bank`` of [label, [findings], report] rows; the
    reports are dropped."""
    out: dict[str, dict[str, list[list[Any]]]] = {}
    for mod, by_class in bank.items():
        out[mod] = {}
        for key, rows in by_class.items():
            combos = Counter((int(r[0]), tuple(r[1])) for r in rows)
            out[mod][key] = [
                [label, list(f), n]
                for (label, f), n in sorted(combos.items(), key=lambda item: (-item[1], item[0]))
            ]
    return out
