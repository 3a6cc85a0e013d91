"""The reference pages in docs/ are checked against the code they describe, so they cannot rot.

Each list is read from the live code (the registries, the pydantic models), so a new result-row
field, data source, spec option, manifest column or suite key fails here until it is documented,
and a documented one that no longer exists fails too. The examples in docs/plugins.md are run.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from synthbench import registry
from synthbench.leaderboard import MARKERS, between_markers, render
from synthbench.results import ResultRow, read_results

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: pages with a rendered leaderboard, and the results folder each is rendered from
RENDERED = {
    "README.md": "results/quick",
    "docs/performance.md": "results/solver-steps",
    "docs/feedback.md": "results/feedback",
    "docs/feedback-guidance3.md": "results/feedback-guidance3",
    "docs/feedback-heldout.md": "results/feedback-heldout",
    "docs/feedback-satisfice.md": "results/feedback-heldout-satisfice",
    "docs/transfer.md": "results/transfer",
    "docs/four-modalities.md": "results/four-modalities",
}


# ---------------------------------------------------------------------------- markdown helpers
def section(text: str, heading: str) -> str:
    """The body of the section whose heading line starts with ``heading``, up to the next
    heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    assert len(starts) == 1, f"expected one section {heading!r}, found {len(starts)}"
    body = []
    for line in lines[starts[0] + 1 :]:
        match = re.match(r"^(#+) ", line)
        if match and len(match.group(1)) <= level:
            break
        body.append(line)
    return "\n".join(body)


def tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables of ``text``: rows of cells, header and separator left out."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            current.append(cells)
        elif current:
            found.append([row for row in current[2:]])
            current = []
    return found


def first_column(table: list[list[str]]) -> list[str]:
    """The names in backticks that open each row of a table."""
    names = []
    for row in table:
        match = re.match(r"^`([^`]+)`", row[0])
        assert match, f"table row {row!r} does not start with a `name`"
        names.append(match.group(1))
    return names


def type_name(annotation: object) -> str:
    """How the schema page spells a field's type: ``str``, ``int | None``, ``dict[str, str]``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a).replace(chr(39), chr(34)) for a in args)}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    return str(annotation)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


# ---------------------------------------------------------------------------- result rows
def test_result_row_page_documents_every_field_with_its_type():
    page = (DOCS / "results.md").read_text()
    (table,) = tables(section(page, "## Fields"))
    documented = first_column(table)
    fields = list(ResultRow.model_fields)
    missing = [f for f in fields if f not in documented]
    stale = [f for f in documented if f not in fields]
    assert not missing, f"docs/results.md lacks ResultRow field(s) {missing}"
    assert not stale, f"docs/results.md documents field(s) {stale} that ResultRow does not have"
    assert documented == fields, "docs/results.md lists the fields in another order than ResultRow"
    for name, row in zip(documented, table):
        expected = type_name(ResultRow.model_fields[name].annotation)
        shown = row[1].strip("`").replace("\\|", "|")
        assert shown == expected, f"docs/results.md: {name} is {expected}, the page says {shown}"
        assert all(cell for cell in row[2:]), f"docs/results.md: {name} lacks a meaning or values"


def test_type_name_spells_the_schema_types():
    assert type_name(str) == "str"
    assert type_name(int | None) == "int | None"
    assert type_name(dict[str, str]) == "dict[str, str]"
    assert type_name(typing.Optional[float]) == "float | None"  # noqa: UP045
    assert type_name(typing.Literal["a", ""]) == 'Literal["a", ""]'


# ---------------------------------------------------------------------------- data specs
def _source_sections() -> dict[str, str]:
    page = (DOCS / "data-specs.md").read_text()
    return {
        name: section(page, f"## `{name}:`") for name in registry.builtin_names(registry.datasets)
    }


def test_data_spec_page_documents_every_registered_source():
    page = (DOCS / "data-specs.md").read_text()
    headings = re.findall(r"^## `([^`:]+):`", page, flags=re.M)
    sources = registry.builtin_names(registry.datasets)
    assert sorted(headings) == sources, (
        f"docs/data-specs.md has sections for {sorted(headings)}; the registered data sources "
        f"are {sources}"
    )


def test_data_spec_page_documents_the_options_every_source_takes():
    from synthbench.data.source import SourceOptions

    page = (DOCS / "data-specs.md").read_text()
    (table,) = tables(section(page, "## Options every source takes"))
    assert first_column(table) == list(SourceOptions.model_fields)


@pytest.mark.parametrize("name", registry.builtin_names(registry.datasets))
def test_data_spec_page_documents_every_option_of_a_source(name):
    from synthbench.data.source import SourceOptions

    options = registry.datasets.get(name).Options.model_fields
    own = [k for k in options if k not in SourceOptions.model_fields]
    body = _source_sections()[name]
    option_tables = [t for t in tables(body) if t and first_column(t)[0] in options]
    documented = [k for t in option_tables for k in first_column(t)]
    missing = [k for k in own if k not in documented]
    stale = [k for k in documented if k not in own]
    assert not missing, f"docs/data-specs.md, {name}: lacks option(s) {missing}"
    assert not stale, f"docs/data-specs.md, {name}: documents option(s) {stale} it does not take"


def test_data_spec_page_documents_every_manifest_column():
    from synthbench.data import imagefolder_source

    body = _source_sections()["imagefolder"]
    columns = [
        t
        for t in tables(body)
        if t and first_column(t)[0] == imagefolder_source.MANIFEST_COLUMNS[0]
    ]
    assert len(columns) == 1, "docs/data-specs.md: imagefolder needs one manifest-column table"
    assert first_column(columns[0]) == list(imagefolder_source.MANIFEST_COLUMNS)


def test_data_spec_page_names_every_phantom_modality_view_and_medmnist_flag():
    from synthbench.data.medmnist_source import MODALITY_WORDS
    from synthbench.data.phantoms import MODALITIES, get_modality

    sections = _source_sections()
    for modality in MODALITIES:
        assert f"`{modality}`" in sections["phantom"], f"phantom modality {modality} undocumented"
        for view in get_modality(modality).views:
            assert f"`{view}`" in sections["phantom"], f"phantom view {view} undocumented"
    for flag in MODALITY_WORDS:
        assert f"`{flag}`" in sections["medmnist"], f"MedMNIST flag {flag} undocumented"


# ---------------------------------------------------------------------------- suites
def _keys(model: type) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _suite_tables() -> dict[str, type]:
    """Each table of the suite schema: its heading in docs/suites.md and its model, read from
    the Suite model (a field holding a model, a list of models or a table of models)."""
    from pydantic import BaseModel

    from synthbench.runner.suite import Suite

    found: dict[str, type] = {"### Top level": Suite}
    for name, field in Suite.model_fields.items():
        origin, args = typing.get_origin(field.annotation), typing.get_args(field.annotation)
        inner = args[-1] if args else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            continue
        heading = f"### `[[{name}]]`" if origin is list else f"### `[{name}."
        found[heading] = inner
    return found


@pytest.mark.parametrize("heading", list(_suite_tables()))
def test_suite_page_documents_every_key(heading):
    from pydantic import BaseModel

    model = _suite_tables()[heading]
    page = (DOCS / "suites.md").read_text()
    found = tables(section(page, heading))
    assert found, f"docs/suites.md, {heading}: no table of keys"
    assert first_column(found[0]) == _keys(model), (
        f"docs/suites.md, {heading}: the keys differ from {model.__name__}'s {_keys(model)}"
    )
    # tables nested one level down (an experiment's protocol grids), in the order of the fields
    nested: list[type] = []
    for field in model.model_fields.values() if heading != "### Top level" else ():
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in nested:
                nested.append(arg)
    for table, inner in zip(found[1:], nested, strict=True):
        assert first_column(table) == _keys(inner), f"docs/suites.md: {inner.__name__}'s keys"


# ---------------------------------------------------------------------------- plugins
def test_plugin_page_names_every_registry_with_its_base_and_group():
    page = (DOCS / "plugins.md").read_text()
    (table, *_) = tables(page)
    rows = {row[2].strip("`"): row[1].strip("`") for row in table}
    for kind, reg in registry.REGISTRIES.items():
        assert reg.group in rows, f"docs/plugins.md lacks the entry-point group of {kind}"
        assert rows[reg.group] == reg._base, f"docs/plugins.md: {kind}'s base class is {reg._base}"


def test_plugin_page_explains_every_generator_config_attribute():
    from synthbench.generators.base import GeneratorConfig

    body = section((DOCS / "plugins.md").read_text(), "## A generator")
    attributes = [n for n in dir(GeneratorConfig) if n.isupper() and not n.startswith("_")]
    assert attributes, "GeneratorConfig has no class-level settings to check"
    missing = [n for n in attributes if f"`{n}`" not in body]
    assert not missing, f"docs/plugins.md, A generator: explain {missing}"


@pytest.fixture(scope="module")
def examples() -> Iterator[dict[str, object]]:
    """Every Python block of docs/plugins.md, run as one module (dataclasses look it up)."""
    page = (DOCS / "plugins.md").read_text()
    module = types.ModuleType("plugins_md_examples")
    sys.modules[module.__name__] = module
    try:
        for block in re.findall(r"```python\n(.*?)```", page, flags=re.S):
            exec(compile(block, "docs/plugins.md", "exec"), module.__dict__)
        yield module.__dict__
    finally:
        del sys.modules[module.__name__]


def _check_base(kind: str, cls: type) -> None:
    reg = registry.REGISTRIES[kind]
    base = registry._import(reg._base)
    assert issubclass(cls, base)


def test_plugin_example_generator_fits_samples_saves_and_loads(examples, tmp_path):
    from synthbench.data.source import load_data
    from synthbench.generators.conditions import Conditions

    cls = examples["MeanNoise"]
    _check_base("generators", cls)
    data = load_data("phantom:oct?n=60&size=16")
    gen = cls(cls.Config.for_profile("smoke")).fit(data.train, seed=0)
    first = gen.sample(12, seed=3)
    assert len(first) == 12 and first.images.shape[1:] == data.train.images.shape[1:]
    assert np.array_equal(first.images, gen.sample(12, seed=3).images)
    loaded = cls.load(gen.save(tmp_path / "ckpt"))  # Generator.load once registered
    assert np.array_equal(loaded.sample(12, seed=3).images, first.images)
    # label conditioning: images asked for a class lie closer to its mean than to another's
    asked = gen.sample(Conditions.from_labels([1] * 4), seed=0)
    assert (asked.label == 1).all()
    images = asked.images.astype(np.float64)
    own, other = gen.means_["oct/1"], gen.means_["oct/0"]
    assert np.abs(images - own).mean() < np.abs(images - other).mean()


def test_plugin_example_task_runs(examples):
    from synthbench.data.source import load_data

    cls = examples["Centroid"]
    _check_base("tasks", cls)
    data = load_data("phantom:oct?n=80&size=16")
    assert cls.serves(data) is None
    rows = cls(profile="smoke").run(data.train, data.val, data.test, seed=0)
    assert [r.metric for r in rows] == ["accuracy"]
    assert rows[0].task == "centroid" and 0 <= rows[0].value <= 1
    assert rows[0].n_real == len(data.train)


def test_plugin_example_metric_scores(examples):
    from synthbench.data.source import load_data
    from synthbench.metrics.base import EvalContext
    from synthbench.metrics.cache import FeatureCache

    cls = examples["IntensityGap"]
    _check_base("metrics", cls)
    data = load_data("phantom:oct?n=60&size=16")
    ctx = EvalContext(real=data, extractor=None, cache=FeatureCache(enabled=False))  # type: ignore[arg-type]
    (same,) = cls().score(ctx, data.train)
    lifted = np.clip(data.train.images.astype(int) + 40, 0, 255).astype(np.uint8)
    brighter = dataclasses.replace(data.train, images=lifted)
    (far,) = cls().score(ctx, brighter)
    assert same.metric == "intensity_gap" and 0 <= same.value < far.value


def test_plugin_example_data_source_splits_by_patient(examples, tmp_path):
    from synthbench.data.source import DataSpec
    from synthbench.errors import DataError

    cls = examples["NpzSource"]
    _check_base("datasets", cls)
    rng = np.random.default_rng(0)
    n = 60
    file = tmp_path / "scans.npz"
    np.savez(
        file,
        images=rng.integers(0, 256, (n, 16, 16), dtype=np.uint8),
        labels=np.arange(n) % 2,
        patients=np.asarray([f"p{i // 3}" for i in range(n)]),  # three images per patient
    )
    data = cls().load(DataSpec.parse(f"npz:{file}?modality=ct&split_seed=1"))
    patients = [set(c.patient_id) for c in (data.train, data.val, data.test)]
    assert sum(len(p) for p in patients) == n // 3, "a patient appears in two splits"
    assert set(data.train.modality) == {"ct"}
    with pytest.raises(DataError, match="unknown option"):
        cls().load(DataSpec.parse(f"npz:{file}?colour=1"))


# ---------------------------------------------------------------------------- pages and links
def test_readme_links_every_docs_page_and_every_link_resolves():
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    readme = pages[0].read_text()
    for page in DOCS.glob("*.md"):
        assert f"](docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: link {target} points to nothing"
            if anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(), flags=re.M)
                assert anchor in {slug(h) for h in headings}, f"{page.name}: no anchor {target}"


def test_rendered_tables_match_their_results():
    pages = {
        p.relative_to(ROOT).as_posix()
        for p in [ROOT / "README.md", *DOCS.glob("*.md")]
        if MARKERS[0] in p.read_text().splitlines()
    }
    assert pages == set(RENDERED), (
        "a page with leaderboard markers needs an entry in RENDERED (the results folder it is "
        "rendered from)"
    )
    for page, folder in RENDERED.items():
        expected = render(read_results(ROOT / folder), "md").strip("\n")
        shown = between_markers((ROOT / page).read_text(), where=page)
        assert shown == expected, (
            f"{page} differs from {folder}; run 'synthbench leaderboard {folder} --format md "
            f"--into {page}'"
        )


def _commands_in(text: str) -> list[str]:
    """``synthbench ...`` command lines: in shell blocks and in inline code."""
    code = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, flags=re.S)
    code += re.findall(r"`(synthbench [^`]+)`", text)
    lines = [line.strip() for block in code for line in block.splitlines()]
    return [line for line in lines if line.startswith("synthbench ")]


def test_every_command_the_pages_show_exists():
    import typer.main

    from synthbench.cli import app

    commands = typer.main.get_command(app).commands
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    shown = [(p.name, line) for p in pages for line in _commands_in(p.read_text())]
    assert len(shown) > 10
    for page, line in shown:
        words = line.split("#")[0].split()
        assert words[1] in commands, f"{page}: '{line}' names no command {words[1]!r}"
        command = commands[words[1]]
        group = getattr(command, "commands", None)
        if group and len(words) > 2 and not words[2].startswith("-"):
            assert words[2] in group, f"{page}: '{line}' names no command {words[2]!r}"
            command = group[words[2]]
        options = {o for param in command.params for o in param.opts + param.secondary_opts}
        for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(words[2:])):
            assert flag in options, f"{page}: '{line}': {command.name} has no option {flag}"


def test_best_of_n_ceiling_table_is_the_results_summary():
    """docs/feedback.md's ceiling table is what the script prints from results/best-of-n-ceiling."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "best_of_n_ceiling", ROOT / "benchmarks" / "perf" / "best_of_n_ceiling.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = ROOT / "results" / "best-of-n-ceiling"
    runs = sorted(p.parent for p in folder.glob("*/manifest.json"))
    assert runs, f"{folder} holds no run"
    table = module.summary(folder)
    # one line per pool: a rerun of a pool with another reward model adds only a learned pick
    manifests = [json.loads((run / "manifest.json").read_text()) for run in runs]
    pools = {json.dumps([m["drawn"], str(m["k"])], sort_keys=True) for m in manifests}
    assert len(table.split("\n\n")[0].splitlines()) == 2 + len(pools)
    assert table in (DOCS / "feedback.md").read_text()


#: page -> (name of its section's markers, results whose rows it renders together): rounds
#: tables besides the page's own leaderboard, each between ``<!-- NAME:start -->`` and
#: ``<!-- NAME:end -->``; a folder's rows are its ``rows.jsonl`` where a script wrote them
SECTIONS = {
    "docs/feedback-heldout.md": [("rejudged", ["results/feedback-heldout-rejudged"])],
    "docs/feedback-satisfice.md": [
        ("compared", ["results/feedback-heldout", "results/feedback-heldout-satisfice"])
    ],
}


def _rows_of(folder: Path) -> list[ResultRow]:
    from synthbench.results import read_rows

    if (folder / "rows.jsonl").is_file():
        assert json_manifest(folder)["script"].startswith("benchmarks/perf/")
        return read_rows(folder / "rows.jsonl")
    return read_results(folder)


@pytest.mark.parametrize(
    "page,name,folders",
    [(page, name, folders) for page, parts in SECTIONS.items() for name, folders in parts],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_rounds_sections_are_rendered_from_their_rows(page, name, folders):
    """A page's extra rounds tables (rejudged rounds, two suites side by side) are the rounds
    tables of those results' rows, rendered as the leaderboard renders them."""
    text = (ROOT / page).read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert text.count(start) == 1 and text.count(end) == 1, f"{page}: {start} ... {end}"
    shown = text[text.index(start) + len(start) : text.index(end)].strip()
    rows = [r for folder in folders for r in _rows_of(ROOT / folder)]
    assert shown == render(rows, "md").strip(), f"{page}: {name} differs from {folders}"


#: page -> the suites whose rounds it shows as every judge measured them: the suite's own results,
#: then the folders benchmarks/perf/rejudge_rounds.py wrote for other judges
ACROSS_JUDGES = {
    "docs/feedback-satisfice.md": [
        [
            "results/feedback-heldout",
            "results/feedback-heldout-rejudged",
            "results/feedback-heldout-rejudged-2",
            "results/feedback-heldout-rejudged-3",
        ],
        [
            "results/feedback-heldout-satisfice",
            "results/feedback-heldout-satisfice-rejudged",
            "results/feedback-heldout-satisfice-rejudged-2",
            "results/feedback-heldout-satisfice-rejudged-3",
        ],
    ],
}


def test_across_judges_tables_are_the_scripts_output():
    """The pages' tables of the rounds by every judge are what benchmarks/perf/across_judges.py
    prints from those folders (round 3)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "across_judges", ROOT / "benchmarks" / "perf" / "across_judges.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for page, suites in ACROSS_JUDGES.items():
        text = (ROOT / page).read_text()
        for folders in suites:
            table = module.summary([ROOT / f for f in folders], {3})
            assert table.count("| **3 fresh judges** |") == 1, folders
            assert table in text, f"{page}: the table of {folders[0]} by every judge differs"


def transfer_tables():
    """benchmarks/perf/transfer_tables.py, imported."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "transfer_tables", ROOT / "benchmarks" / "perf" / "transfer_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transfer_fd_pairs_table_is_the_scripts_output():
    """docs/transfer.md's six-seed FD-minus-scratch table, in both extractors' features, is what
    benchmarks/perf/transfer_tables.py prints from the brain MRI seeds run's rows."""
    module = transfer_tables()
    rows = module.read([ROOT / "results" / "transfer-brain-seeds"])
    table = module.fd_pairs(rows)
    lines = table.splitlines()[2:]
    for features in ("| domain-", "| autoencoder-"):  # the two quality blocks' extractors
        assert sum(features in line for line in lines) == 3, features  # three generators each
    assert all(f"{seed}: " in line for line in lines for seed in range(6))
    assert table in (DOCS / "transfer.md").read_text()


def test_transfer_budget_tables_are_the_scripts_output():
    """docs/transfer.md's 100-step tables are what benchmarks/perf/transfer_tables.py prints from
    the budget suite's rows, and what pixel_fd.py and critic_check.py wrote for it."""
    module = transfer_tables()
    rows = module.read([ROOT / "results" / "transfer-budget"])
    page = (DOCS / "transfer.md").read_text()
    seeds, pairs = module.fd_table(rows), module.fd_pairs(rows)
    assert all("| domain-" in t and "| autoencoder-" in t for t in (seeds, pairs))
    assert seeds in page and pairs in page
    down = module.downstream_table(rows, ratio=5.0)
    assert "| auroc | 0 | full |" in down and down in page
    for folder, name in (("pixel-fd", "pairs.md"), ("critic-check", "critic.md")):
        written = ROOT / "results" / folder / "transfer-budget"
        assert json_manifest(written)["script"].startswith("benchmarks/perf/")
        assert (written / name).read_text().strip() in page, (folder, name)
    # the six-seed suite's critic figures, quoted in words: 24 generators, each at 1.000
    seeds = ROOT / "results" / "critic-check" / "transfer-brain-seeds"
    scores = json.loads((seeds / "scores.json").read_text())["scores"]
    generated = {k: v for k, v in scores.items() if k != "real training split"}
    assert len(generated) == 24 and all(round(v, 3) == 1.0 for v in generated.values())
    assert "24 generators scores 1.000" in " ".join(page.split())


def test_pixel_fd_table_is_the_results_table():
    """docs/transfer.md's pixel-space FD tables are the ones benchmarks/perf/pixel_fd.py wrote."""
    folder = ROOT / "results" / "pixel-fd" / "transfer-brain-seeds"
    assert json_manifest(folder)["script"] == "benchmarks/perf/pixel_fd.py"
    for name in ("fd.md", "pairs.md"):
        table = (folder / name).read_text().strip()
        assert table in (DOCS / "transfer.md").read_text(), name


def test_near_copy_agreement_tables_are_the_results_tables():
    """docs/feedback-satisfice.md's near-copy agreement tables are the ones
    benchmarks/perf/near_copy_agreement.py wrote, after checking its shares against the rows."""
    folder = ROOT / "results" / "near-copy-agreement"
    manifest = json_manifest(folder)
    assert manifest["script"] == "benchmarks/perf/near_copy_agreement.py"
    assert manifest["shares_checked_against_rejudged_rows"] > 0
    tables = (folder / "agreement.md").read_text().strip()
    assert tables.count("| real test images |") == 1
    assert tables in (DOCS / "feedback-satisfice.md").read_text()


def test_fd_noise_table_is_the_results_table():
    """docs/feedback-guidance3.md's FD noise table is the one benchmarks/perf/fd_noise.py wrote."""
    table = (ROOT / "results" / "fd-noise" / "oct4-g3" / "fd.md").read_text().strip()
    assert table in (DOCS / "feedback-guidance3.md").read_text()


def test_extractor_check_table_is_the_results_table():
    """docs/transfer.md's extractor check is the table benchmarks/perf/extractor_check.py wrote,
    and its per-seed table the one the script prints from the same scores."""
    import importlib.util
    import json

    folder = ROOT / "results" / "extractor-check" / "transfer-breast"
    written = (folder / "extractors.md").read_text()
    table = written[written.index("| images") :].strip()
    assert json_manifest(folder)["script"] == "benchmarks/perf/extractor_check.py"
    page = (DOCS / "transfer.md").read_text()
    assert table in page
    spec = importlib.util.spec_from_file_location(
        "extractor_check", ROOT / "benchmarks" / "perf" / "extractor_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    per_seed = module.seeds_table(json.loads((folder / "scores.json").read_text())["scores"])
    assert len(per_seed.splitlines()) == 2 + 4  # full, lora, lora-r16, scratch
    assert per_seed in page


def json_manifest(folder: Path) -> dict:
    import json

    return json.loads((folder / "manifest.json").read_text())


def test_anatomy_tables_are_the_scripts_output():
    """docs/transfer.md's planted-control table and contrastive rows are what anatomy_fd.py wrote,
    and the script reproduced the suite's own FD for every generator it scored."""
    page = (DOCS / "transfer.md").read_text()
    for suite, n in (("transfer-brain-seeds", 24), ("transfer-budget", 12)):
        written = ROOT / "results" / "anatomy-fd" / suite
        assert json_manifest(written)["script"] == "benchmarks/perf/anatomy_fd.py"
        scores = json.loads((written / "scores.json").read_text())
        assert scores["suite_fd_reproduced"] == f"{n} of {n}"
        rows = [
            line
            for line in (written / "pairs.md").read_text().splitlines()
            if "| contrastive" in line
        ]
        assert len(rows) == 6 and all(row in page for row in rows), suite
    controls = (
        ROOT / "results" / "anatomy-fd" / "transfer-brain-seeds" / "controls.md"
    ).read_text()
    assert controls.strip() in page
    # the fresh seeds' check, every space's rows, after the suite's own rows were reproduced
    fresh = ROOT / "results" / "anatomy-fd" / "transfer-brain-fresh"
    assert json.loads((fresh / "scores.json").read_text())["suite_fd_reproduced"] == "16 of 16"
    assert (fresh / "pairs.md").read_text().strip() in page
    assert (fresh / "controls.md").read_text() == controls  # the same controls and networks
    # one pair of contrastive networks behind the three brain MRI checks
    brain = ("transfer-brain-seeds", "transfer-budget", "transfer-brain-fresh")
    digests = {
        json.dumps({k: v["weights_sha256"] for k, v in json_manifest(d)["contrastive"].items()})
        for d in (ROOT / "results" / "anatomy-fd" / name for name in brain)
    }
    assert len(digests) == 1
    # breast MRI: the suite scores in contrastive itself, and the check is its extractor
    # and the suite's own rows, in both extractors' features, as transfer_tables.py prints them
    tables = transfer_tables()
    pairs = tables.fd_pairs(tables.read([ROOT / "results" / "transfer-breast"]))
    assert "| contrastive-" in pairs and "| domain-" in pairs and pairs in page
    breast = ROOT / "results" / "anatomy-fd" / "transfer-breast"
    scores = json.loads((breast / "scores.json").read_text())
    assert scores["suite_fd_reproduced"] == "12 of 12"
    assert scores["extractors"]["contrastive"] in json_manifest(breast)["contrastive"]
    for name in ("controls.md", "pairs.md"):
        assert (breast / name).read_text().strip() in page, name


def test_lora_on_every_layer_tables_are_the_scripts_output():
    """docs/transfer.md's pilot and fresh-seed tables for LoRA on every layer are what
    transfer_tables.py prints from their suites' rows, and the fresh seeds were judged in the
    contrastive features of the transfer suites' fresh simulation."""
    tables = transfer_tables()
    page = (DOCS / "transfer.md").read_text()
    pilot = tables.fd_pairs(tables.read([ROOT / "results" / "transfer-pilot-brain"]))
    assert pilot.count("| contrastive-") == 2 and pilot in page
    fresh = tables.read([ROOT / "results" / "transfer-lora-all"])
    pairs = tables.fd_pairs(fresh)
    assert "| 10: " in pairs and "| contrastive-" in pairs and "| domain-" in pairs
    assert pairs in page
    more = tables.read([ROOT / "results" / "transfer-lora-all-more"])
    assert tables.fd_pairs(more) in page and "| 13: " in tables.fd_pairs(more)
    both = tables.fd_pairs(
        tables.read(
            [ROOT / "results" / "transfer-lora-all", ROOT / "results" / "transfer-lora-all-more"]
        )
    )
    assert "6 of 6" in both and both in page
    suite = (ROOT / "benchmarks" / "transfer_lora_all.toml").read_text()
    assert 'extractor = "contrastive"' in suite and "seed=7919" in suite


def test_lora_on_every_layer_confirm_table_is_the_scripts_output():
    """docs/transfer.md's table of the six-seed run fixed before it ran (seeds 16-21) is what
    transfer_tables.py prints from its rows, judged by the same extractors as seeds 10-15."""
    tables = transfer_tables()
    rows = tables.read([ROOT / "results" / "transfer-lora-all-confirm"])
    confirm = tables.fd_pairs(rows)
    earlier = tables.fd_pairs(tables.read([ROOT / "results" / "transfer-lora-all"]))
    page = (DOCS / "transfer.md").read_text()
    assert confirm in page and tables.fd_table(rows) in page
    assert all(f"{seed}: " in confirm for seed in range(16, 22))
    extractors = {line.split(" | ")[1] for line in confirm.splitlines()[2:]}
    assert extractors == {line.split(" | ")[1] for line in earlier.splitlines()[2:]}
    suite = (ROOT / "benchmarks" / "transfer_lora_all_confirm.toml").read_text()
    assert "at least 5 of the 6" in suite and "seed=7919" in suite


def test_lora_on_every_layer_downstream_table_is_the_scripts_output():
    """docs/transfer.md's downstream table for LoRA on every layer is what transfer_tables.py
    prints from its suite's rows: six training seeds, each against scratch's of the same seed."""
    tables = transfer_tables()
    rows = tables.read([ROOT / "results" / "transfer-lora-all-downstream"])
    table = tables.downstream_table(rows, 5.0)
    page = (DOCS / "transfer.md").read_text()
    assert table in page
    assert all(f"| auroc | {seed} | lora-all |" in table for seed in range(10, 16))
    assert "| auroc | 6 seeds (6 above 0) | lora-all |" in table
    pairs = tables.fd_pairs(rows)  # its quality block: 250 of each generator's 1,000 images
    assert "| contrastive-" in pairs and "| 6 of 6 |" in pairs and pairs in page


def test_checkpoint_sizes_table_is_the_manifests():
    """docs/transfer.md's checkpoint sizes are what transfer_tables.py prints from the manifest's
    checkpoint_bytes, and LoRA on every layer's is within the must-show's 10% of full's."""
    tables = transfer_tables()
    folder = ROOT / "results" / "transfer-checkpoint-sizes"
    table = tables.checkpoint_table([folder], tables.read([folder]))
    assert table in (DOCS / "transfer.md").read_text()
    share = {line.split(" | ")[0][2:]: line.split(" | ")[2][:-2] for line in table.splitlines()[2:]}
    assert share["full"] == "100.0%" and float(share["lora-all"].rstrip("%")) <= 10.0
