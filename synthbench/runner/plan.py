"""A suite expanded into cells: generator training, sampling, quality and downstream task runs.

Every cell has a key, a content hash of its inputs (the cells it reads, by their keys), its
settings and the source of the code it runs, so a finished cell is never recomputed and a changed
input or code gives a new key instead of a stale result. Labels that only describe a cell's rows
(the suite, the generator's label in the suite, the protocol) stay out of the key: one real-only
run serves every block that needs it.

The protocol of every downstream row is computed here, from which real images each model saw:
the generator's training images (a checkpoint's: the training split of the spec it was trained
on) and the downstream model's real training images (its real fraction of the training split,
drawn with the run's seed). Equal sets are ``same-data``; a generator pool that strictly contains
the downstream set is ``pretrain-pool``; a generator that saw any validation or test image of the
data set is refused. Images are compared by content digest, so specs that simulate or split the
same patients differently are told apart.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.cohort import image_digests, row_digests
from synthbench.errors import SynthbenchError
from synthbench.runner.suite import GeneratorEntry, Suite

if TYPE_CHECKING:
    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData

KINDS = ("train", "sample", "quality", "task", "refine")


@dataclass(frozen=True)
class Cell:
    """One unit of work. ``payload`` is what the worker needs (JSON); ``deps`` the keys of the
    cells whose outputs it reads; ``annotations`` the row fields only this suite adds."""

    kind: str
    key: str
    payload: dict[str, Any]
    deps: tuple[str, ...] = ()
    label: str = ""
    annotations: tuple[dict[str, Any], ...] = ()


@dataclass
class Plan:
    """The cells of a suite in an order where every cell follows the cells it reads."""

    suite: Suite
    cells: dict[str, Cell] = field(default_factory=dict)

    def add(self, cell: Cell) -> Cell:
        old = self.cells.get(cell.key)
        if old is None:
            self.cells[cell.key] = cell
            return cell
        if cell.annotations:  # the same work serves one more block of the suite
            merged = old.annotations + tuple(
                a for a in cell.annotations if a not in old.annotations
            )
            old = Cell(old.kind, old.key, old.payload, old.deps, old.label, merged)
            self.cells[cell.key] = old
        return old

    def of_kind(self, kind: str) -> list[Cell]:
        return [c for c in self.cells.values() if c.kind == kind]


# ---------------------------------------------------------------------------------- hashing
def digest(payload: Any) -> str:
    """A 16-hex-digit content hash of a JSON-able value."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def code_digest(module: str) -> str:
    """A hash of the source of ``module`` and of every synthbench module it imports, directly
    or not: the code a cell runs. Editing a leaderboard or the command line changes no cell."""
    import ast
    import importlib.util

    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # ``from module import name`` of a non-module name
            spec = None
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as fh:
            source = fh.read()
        seen[name] = source
        is_package = spec.origin.endswith("__init__.py")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("synthbench")]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                if base.startswith("synthbench"):
                    todo.append(base)
                    todo += [f"{base}.{a.name}" for a in node.names]
    return digest(sorted(seen.items()))


def folder_digest(path: str) -> str:
    """A hash of every file's name and bytes under a folder (a checkpoint's identity)."""
    from pathlib import Path

    h = hashlib.sha256()
    root = Path(path)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------- data
def data_payload(suite: Suite, key: str) -> dict[str, Any]:
    from synthbench.data.source import DataSpec

    entry = suite.data[key]
    return {"spec": str(DataSpec.parse(entry.spec)), "modalities": entry.modalities}


@functools.lru_cache(maxsize=8)
def _load(spec: str, modalities: tuple[str, ...] | None) -> RealData:
    from synthbench.data.source import RealData, load_data

    data = load_data(spec)
    if modalities is None:
        return data
    missing = sorted(set(modalities) - set(data.train.modalities))
    if missing:
        raise SynthbenchError(
            f"data spec {spec} has no modality {', '.join(missing)}; it has {', '.join(data.train.modalities)}"
        )
    parts = [
        c.subset(np.flatnonzero(np.isin(c.modality, modalities)))
        for c in (data.train, data.val, data.test)
    ]
    return RealData(spec, *parts)


def load_payload_data(payload: dict[str, Any]) -> RealData:
    """The real data a cell reads (the spec's splits, filtered to its modalities)."""
    mods = payload.get("modalities")
    return _load(payload["spec"], tuple(mods) if mods else None)


# ---------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Source:
    """Where a generator's images come from: a train cell or a checkpoint, and what it saw."""

    ref: dict[str, Any]  # {"train": key} or {"checkpoint": path, "digest": d}
    deps: tuple[str, ...]
    saw: frozenset[str]  # digests of the real images it trained on
    trained_rows: tuple[int, ...]  # rows of the data set's training split it trained on


def make_plan(suite: Suite, *, code: Mapping[str, str] | None = None) -> Plan:
    """Expand a checked suite into cells; protocols and leakage are checked here (one line each).

    ``code`` maps a module to the code digest its cells are planned under instead of the current
    code's (the digest a cell's ``cell.json`` records): cells an earlier commit ran are found
    again, to be read, not rerun."""
    from synthbench import registry

    def code_of(module: str) -> str:
        return (code or {}).get(module) or code_digest(module)

    plan = Plan(suite)
    sources: dict[tuple, Source] = {}
    needs: dict[tuple, dict[str, Any]] = {}  # sample request -> counts per stratum etc.
    task_specs: list[tuple[Cell, tuple | None]] = []

    def real(key: str) -> RealData:
        return load_payload_data(data_payload(suite, key))

    @functools.cache
    def train_digests(key: str) -> tuple[str, ...]:
        return tuple(row_digests(real(key).train))

    @functools.cache
    def kept(key: str, fraction: float, seed: int | None) -> tuple[int, ...]:
        return tuple(int(i) for i in _kept_rows(real(key).train, fraction, seed))

    @functools.cache
    def train_strata(key: str) -> tuple[tuple, ...]:
        from synthbench.tasks.mixing import strata

        return tuple(strata(real(key).train))

    def needed(key: str, rows: tuple[int, ...], ratio: float) -> dict[str, int]:
        """Synthetic images per stratum that ``mix`` draws for these real rows at this ratio."""
        from synthbench.tasks.mixing import quota

        keys = train_strata(key)
        wanted = quota((keys[i] for i in rows), round(ratio * len(rows)))
        return {stratum_name(k): v for k, v in wanted.items()}

    def saw_rows(key: str, rows: tuple[int, ...]) -> frozenset[str]:
        digests = train_digests(key)
        return frozenset(digests[i] for i in rows)

    def source(gen_key: str, data_key: str, fraction: float, subset_seed: int | None) -> Source:
        entry = suite.generators[gen_key]
        cache_key = (gen_key, data_key, fraction, subset_seed if entry.checkpoint is None else None)
        if cache_key in sources:
            return sources[cache_key]
        data = real(data_key)
        if entry.checkpoint is not None:
            src = _checkpoint_source(entry, data, gen_key)
        else:
            rows = kept(data_key, fraction, subset_seed)
            cls = registry.generators.get(entry.generator)
            config = cls.Config.for_profile(suite.profile, **entry.settings)
            payload = {
                "generator": entry.generator,
                "config": config.to_dict(),
                "config_hash": config.config_hash(entry.generator),
                "profile": suite.profile,
                "seed": entry.seed,
                "data": data_payload(suite, data_key),
                "real_fraction": fraction,
                "subset_seed": subset_seed,
                "code": code_of(cls.__module__),
            }
            start = payload["config"].get("init_from")
            if start:  # a fine-tuning starts from a checkpoint: its files are an input too
                from synthbench.generators.shipped import resolve_checkpoint

                payload["init_from_digest"] = folder_digest(str(resolve_checkpoint(start)))
            what = f"{fraction:g} of " if fraction < 1 else ""
            cell = plan.add(
                Cell(
                    "train",
                    digest(["train", payload]),
                    payload,
                    label=f"train {gen_key} on {what}{data_key}"
                    + (f" (subset seed {subset_seed})" if subset_seed is not None else ""),
                )
            )
            src = Source({"train": cell.key}, (cell.key,), saw_rows(data_key, rows), rows)
        sources[cache_key] = src
        return src

    def request(gen_key: str, data_key: str, src: Source, counts: dict[str, int]) -> tuple:
        rkey = (gen_key, data_key, src.ref.get("train") or src.ref.get("digest"))
        need = needs.setdefault(rkey, {"gen": gen_key, "data": data_key, "src": src, "counts": {}})
        for stratum, n in counts.items():
            need["counts"][stratum] = max(need["counts"].get(stratum, 0), n)
        return rkey

    for i, exp in enumerate(suite.experiments):
        data = real(exp.data)
        task_cls = registry.tasks.get(exp.task)
        reason = task_cls.serves(data)
        if reason:
            raise SynthbenchError(
                f"experiments[{i}].task: {exp.task} cannot run on data.{exp.data}: {reason}"
            )
        heldout = image_digests(data.val) | image_digests(data.test)
        seeds = exp.seeds or suite.seeds
        config = task_cls.Config.for_profile(suite.profile, **exp.settings)
        base = {
            "task": exp.task,
            "config": config.to_dict(),
            "profile": suite.profile,
            "data": data_payload(suite, exp.data),
            "code": code_of(task_cls.__module__),
        }
        grids = {"same-data": exp.same_data, "pretrain-pool": exp.pretrain_pool}
        for seed in seeds:
            control_fractions: dict[float, set[str]] = {}
            for f in exp.real_fractions:
                control_fractions.setdefault(f, set()).add("")
            for protocol, grid in grids.items():
                if grid is None:
                    continue
                for f in grid.real_fractions:
                    control_fractions.setdefault(f, set()).add(protocol)
                if protocol == "pretrain-pool":
                    control_fractions.setdefault(1.0, set()).add("real-pool")
                for f in grid.real_fractions:
                    downstream = saw_rows(exp.data, kept(exp.data, f, seed))
                    for gen_key in exp.generators:
                        entry = suite.generators[gen_key]
                        if not registry.generators.get(
                            entry.generator
                        ).capabilities.produces_images:
                            continue
                        pool = protocol == "pretrain-pool" or f == 1.0
                        src = source(gen_key, exp.data, 1.0 if pool else f, None if pool else seed)
                        computed = protocol_of(src.saw, downstream, heldout, gen_key, f)
                        if computed != protocol:
                            raise SynthbenchError(
                                f"experiments[{i}].{protocol}: generator {gen_key!r} at real fraction "
                                f"{f:g} is a {computed} comparison (it trained on "
                                f"{len(src.saw)} real images, the downstream model sees "
                                f"{len(downstream)}); list it under [{computed}]"
                            )
                        for ratio in grid.synth_ratios:
                            counts = needed(exp.data, kept(exp.data, f, seed), ratio)
                            rkey = request(gen_key, exp.data, src, counts)
                            payload = {
                                **base,
                                "synth_ratio": ratio,
                                "real_fraction": f,
                                "seed": seed,
                            }
                            note = {"generator": gen_key, "protocol": protocol}
                            cell = Cell(
                                "task",
                                "",
                                payload,
                                label=f"{exp.task} {gen_key} {ratio:g}x "
                                f"{protocol} f={f:g} seed {seed} on {exp.data}",
                                annotations=(note,),
                            )
                            task_specs.append((cell, rkey))
            for f, uses in sorted(control_fractions.items()):
                payload = {**base, "synth_ratio": 0.0, "real_fraction": f, "seed": seed}
                notes = []
                for use in sorted(uses):
                    if use == "real-pool":
                        notes.append({"generator": "real-pool", "protocol": "pretrain-pool"})
                    else:
                        notes.append({"generator": "real-only", "protocol": use})
                cell = Cell(
                    "task",
                    "",
                    payload,
                    label=f"{exp.task} real f={f:g} seed {seed} on {exp.data}",
                    annotations=tuple(notes),
                )
                task_specs.append((cell, None))

    quality_specs = []
    for i, check in enumerate(suite.quality):
        data = real(check.data)
        n_ref = len(data.splits()[check.reference_split])
        heldout = image_digests(data.val) | image_digests(data.test)
        for gen_key in check.generators:
            entry = suite.generators[gen_key]
            if not registry.generators.get(entry.generator).capabilities.produces_images:
                continue
            src = source(gen_key, check.data, 1.0, None)
            protocol_of(
                src.saw, saw_rows(check.data, kept(check.data, 1.0, None)), heldout, gen_key, 1.0
            )
            counts = _balanced_counts(data.train, n_ref)
            quality_specs.append(
                (i, check, gen_key, request(gen_key, check.data, src, counts), n_ref)
            )
        quality_specs.append((i, check, "real-vs-real", None, n_ref))

    sample_keys: dict[tuple, str] = {}
    for rkey, need in needs.items():
        entry = suite.generators[need["gen"]]
        cls = registry.generators.get(entry.generator)
        payload = {
            "source": need["src"].ref,
            "data": data_payload(suite, need["data"]),
            "rows": list(need["src"].trained_rows),
            "counts": dict(sorted(need["counts"].items())),
            "sampling": dict(sorted(entry.sampling.items())),
            "seed": suite.sampling_seed,
            "code": code_of(cls.__module__),
        }
        n = sum(need["counts"].values())
        cell = plan.add(
            Cell(
                "sample",
                digest(["sample", payload]),
                payload,
                need["src"].deps,
                label=f"sample {n} images of {need['gen']} like {need['data']}",
            )
        )
        sample_keys[rkey] = cell.key

    for _i, check, gen_key, rkey, n_ref in quality_specs:
        payload = {
            "data": data_payload(suite, check.data),
            "metrics": check.metrics,
            "extractor": check.extractor,
            "extractor_path": check.extractor_path,
            # only when set, so suites without it keep their cell keys
            **({"resize": check.resize} if check.resize else {}),
            **({"extractor_data": check.extractor_data} if check.extractor_data else {}),
            "reference_split": check.reference_split,
            "n": n_ref,
            "seed": suite.sampling_seed,
            "code": code_of("synthbench.metrics.evaluate"),
            # the registry names the extractor's and the metrics' modules as strings, which
            # evaluate's own code digest does not follow
            "extractor_code": code_of(registry.feature_extractors.get(check.extractor).__module__),
            "metrics_code": {
                m: code_of(registry.metrics.get(m).__module__) for m in sorted(check.metrics)
            },
        }
        if rkey is None:  # the floor: another real split of the same size
            payload["real_split"] = "val" if check.reference_split == "test" else "test"
            deps: tuple[str, ...] = ()
        else:
            payload["sample"] = sample_keys[rkey]
            deps = (sample_keys[rkey],)
        plan.add(
            Cell(
                "quality",
                digest(["quality", payload]),
                payload,
                deps,
                label=f"quality of {gen_key} on {check.data}",
                annotations=({"generator": gen_key, "protocol": ""},),
            )
        )

    for cell, rkey in task_specs:
        payload = dict(cell.payload)
        deps = ()
        if rkey is not None:
            payload["sample"] = sample_keys[rkey]
            deps = (sample_keys[rkey],)
        plan.add(
            Cell("task", digest(["task", payload]), payload, deps, cell.label, cell.annotations)
        )
    _plan_refinement(plan, real, code_of)
    return plan


def _plan_refinement(plan: Plan, real: Any, code_of: Callable[[str], str]) -> None:
    """Refinement chains: round 0 (the base's batch, shared by the methods) and, per method,
    rounds 1.. each reading every earlier round of its chain."""
    from synthbench import registry
    from synthbench.feedback.rounds import DEFAULT_METRICS, HELD_OUT, RoundSettings

    # round 0 samples the base and rates it: the methods' own settings do not change it, so
    # blocks that differ only in those share it
    method_only = {k for k, part in RoundSettings.KEYS.items() if part == "refine"} - {"sampling"}
    suite = plan.suite
    for i, ref in enumerate(suite.refinement):
        entry = suite.generators[ref.generator]
        data = real(ref.data)
        src = _checkpoint_source(entry, data, ref.generator)
        heldout = image_digests(data.val) | image_digests(data.test)
        protocol_of(src.saw, src.saw, heldout, ref.generator, 1.0)  # refuses a leaked generator
        if ref.settings.get("extractor_data"):  # refused now, not after round 0's sampling
            from synthbench.metrics.evaluate import extractor_training

            try:
                extractor_training(ref.settings["extractor_data"], data)
            except SynthbenchError as exc:
                raise SynthbenchError(f"refinement[{i}].settings: {exc}") from None
        # rounds scored on held-out prompts say so, as their rows do
        protocol = HELD_OUT if ref.settings.get("eval_prompts") else ""
        note: tuple[dict[str, Any], ...] = (
            {
                "generator": ref.generator,
                "protocol": protocol,
                # a labelled block's rows say so (collect_rows adds it to their qualifiers)
                **({"qualifiers": {"variant": ref.label}} if ref.label else {}),
            },
        )
        for seed in ref.seeds or suite.seeds:
            base = {
                "base": src.ref,
                "data": data_payload(suite, ref.data),
                # the generator entry's sampling settings: every round samples its models with them
                "settings": dict(
                    sorted(
                        {
                            **ref.settings,
                            **(
                                {"sampling": dict(sorted(entry.sampling.items()))}
                                if entry.sampling
                                else {}
                            ),
                        }.items()
                    )
                ),
                "seed": seed,
                "code": code_of("synthbench.feedback.rounds"),
                # the registry names the scoring extractor's and metrics' modules as strings,
                # which the rounds' code digest does not follow
                "extractor_code": code_of(registry.feature_extractors.get("domain").__module__),
                "metrics_code": {
                    m: code_of(registry.metrics.get(m).__module__)
                    for m in sorted(ref.settings.get("metrics", DEFAULT_METRICS))
                },
            }
            shared = {k: v for k, v in base["settings"].items() if k not in method_only}
            first = {**base, "settings": shared, "round": 0, "method": "base", "earlier": []}
            zero = plan.add(
                Cell(
                    "refine",
                    digest(["refine", first]),
                    first,
                    label=f"refinement[{i}] round 0 of {ref.generator} seed {seed} on {ref.data}",
                    annotations=note,
                )
            )
            for method in ref.methods:
                chain = [zero.key]
                for r in range(1, ref.rounds + 1):
                    payload = {**base, "round": r, "method": method, "earlier": list(chain)}
                    cell = plan.add(
                        Cell(
                            "refine",
                            digest(["refine", payload]),
                            payload,
                            tuple(chain),
                            label=f"refinement[{i}] {method} round {r} seed {seed} on {ref.data}",
                            annotations=note,
                        )
                    )
                    chain.append(cell.key)


def protocol_of(
    saw: frozenset[str],
    downstream: frozenset[str],
    heldout: frozenset[str],
    name: str,
    fraction: float,
) -> str:
    """``same-data`` or ``pretrain-pool`` from the real images each model trained on."""
    leaked = saw & heldout
    if leaked:
        raise SynthbenchError(
            f"generator {name!r} trained on {len(leaked)} validation or test images of this data "
            "set (a checkpoint trained on another spec or split); its results would not be honest"
        )
    if saw == downstream:
        return "same-data"
    if saw > downstream:
        return "pretrain-pool"
    raise SynthbenchError(
        f"generator {name!r} trained on real images the downstream model at real fraction "
        f"{fraction:g} does not see, without seeing all it sees: neither same-data nor pretrain-pool"
    )


def _checkpoint_source(entry: GeneratorEntry, data: RealData, name: str) -> Source:
    from synthbench.generators.base import read_checkpoint_info
    from synthbench.generators.shipped import resolve_checkpoint

    path = resolve_checkpoint(entry.checkpoint or "")
    info = read_checkpoint_info(path)
    trained_on = info.fit.get("data")
    if not trained_on:
        raise SynthbenchError(
            f"generator {name!r}: checkpoint {entry.checkpoint} does not record the data it was "
            "trained on, so which real images it saw is unknown"
        )
    saw = image_digests(_load(str(trained_on), None).train)
    own = image_digests(data.train) | image_digests(data.val) | image_digests(data.test)
    rows = tuple(i for i, d in enumerate(row_digests(data.train)) if d in saw)
    return Source(
        {"checkpoint": str(path), "digest": folder_digest(str(path))}, (), saw & own, rows
    )


def _kept_rows(train: Cohort, fraction: float, seed: int | None) -> np.ndarray:
    """Rows of the training split that a real fraction keeps with a seed (what ``mix`` keeps:
    whole patients, stratified)."""
    from synthbench.tasks.mixing import keep_fraction

    if fraction == 1.0 or seed is None:
        return np.arange(len(train))
    kept = set(keep_fraction(train, fraction, seed=seed).patient_id)
    return np.flatnonzero(np.isin(train.patient_id, list(kept)))


def stratum_name(key: tuple) -> str:
    return "/".join(str(k) for k in key)


def _balanced_counts(train: Cohort, total: int) -> dict[str, int]:
    from synthbench.tasks.mixing import quota, strata

    return {stratum_name(k): v for k, v in quota(strata(train), total).items()}


def conditions_cohort(train: Cohort, rows: Iterable[int], counts: dict[str, int]) -> Cohort:
    """The rows whose conditions a sample cell copies: for each stratum, the generator's own
    training rows of that stratum, cycled to the count asked for."""
    from synthbench.tasks.mixing import strata

    rows = list(rows)
    keys = strata(train)
    by_stratum: dict[str, list[int]] = {}
    for i in rows:
        by_stratum.setdefault(stratum_name(keys[i]), []).append(i)
    picked: list[int] = []
    for name, n in counts.items():
        pool = by_stratum.get(name, [])
        if n and not pool:
            raise SynthbenchError(f"no training rows of stratum {name} to condition on")
        picked += [pool[j % len(pool)] for j in range(n)]
    return train.subset(np.asarray(picked, np.int64))
