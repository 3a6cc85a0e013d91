"""``synthbench evaluate``: sides from specs and folders, a table, JSON rows, clear errors, cache."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from synthbench.cli.evaluate import evaluate
from synthbench.errors import SynthbenchError
from synthbench.results import ResultRow

SPEC = "phantom:oct?n=400&size=32"


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    app.command("evaluate")(evaluate)
    app.command("noop")(
        lambda: None
    )  # two commands, so 'evaluate' is a sub-command as in synthbench
    return app


def run(app, args):
    """Invoke like synthbench.cli.main does: a SynthbenchError is one line on stderr, exit 2."""
    result = CliRunner().invoke(app, ["evaluate", *args])
    if isinstance(result.exception, SynthbenchError):
        return 2, f"error: {result.exception}"
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_evaluate_spec_against_cohort_folder(app, oct_data, cache, tmp_path):
    oct_data.test.save(tmp_path / "synthetic")
    out_json = tmp_path / "rows.json"
    code, output = run(
        app,
        [
            SPEC,
            str(tmp_path / "synthetic"),
            "--metrics",
            "fd,prdc,memorisation",
            "--json",
            str(out_json),
            "--out",
            str(tmp_path / "art"),
            "--cache-dir",
            str(cache.root),
        ],
    )
    assert code == 0, output
    assert "fd" in output and "precision" in output and "near_copy_share" in output
    payload = json.loads(out_json.read_text())
    rows = [ResultRow.model_validate(r) for r in payload["rows"]]
    fd = [r for r in rows if r.metric == "fd"]
    assert (
        fd[0].qualifiers == {}
        and fd[0].higher_is_better is False
        and fd[0].feature_extractor.startswith("domain-")
    )
    assert {r.qualifiers.get("class") for r in fd[1:]} == {"normal", "drusen", "dme", "cnv"}
    assert (tmp_path / "art" / "memorisation_closest_pairs.png").is_file()
    assert fd[0].n_synth == len(oct_data.test) and fd[0].n_real == len(oct_data.train)


def test_evaluate_data_make_folder_and_image_folder(app, oct_data, cache, tmp_path):
    from PIL import Image

    for split, cohort in oct_data.splits().items():
        cohort.save(tmp_path / "real" / split)
    names = oct_data.test.label_names["oct"]
    for i, (img, lbl) in enumerate(zip(oct_data.test.images, oct_data.test.label)):
        folder = tmp_path / "images" / names[lbl]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0]).save(folder / f"{i}.png")
    code, output = run(
        app,
        [
            str(tmp_path / "real"),
            str(tmp_path / "images"),
            "--metrics",
            "fd",
            "--cache-dir",
            str(cache.root),
        ],
    )
    assert code == 0, output
    per_class = [line for line in output.splitlines() if line.startswith("fd") and "class=" in line]
    assert len(per_class) == 4  # image-folder classes were matched to the real class names


def test_unknown_metric_and_missing_inception_are_one_line(app, cache, tmp_path, monkeypatch):
    monkeypatch.delenv("SYNTHBENCH_INCEPTION_WEIGHTS", raising=False)
    code, output = run(
        app,
        [
            SPEC,
            "phantom:oct?n=40&size=32&seed=1",
            "--metrics",
            "fdd",
            "--cache-dir",
            str(cache.root),
        ],
    )
    assert code == 2 and "did you mean 'fd'" in output and "\n" not in output.strip()
    code, output = run(
        app,
        [
            SPEC,
            "phantom:oct?n=40&size=32&seed=1",
            "--extractor",
            "inception",
            "--cache-dir",
            str(tmp_path),
        ],
    )
    assert code == 2 and "\n" not in output.strip()
    assert str(tmp_path / "weights" / "weights-inception-2015-12-05-6726825d.pth") in output
    for extra, needle in (
        (["--extractor", "inception", "--extractor-data", SPEC], "only extractors that train"),
        (["--extractor-data", "phantom:fundus?n=40&size=32"], "has no oct images"),
    ):
        code, output = run(app, [SPEC, "phantom:oct?n=40&size=32&seed=1", *extra])
        assert code == 2 and needle in output and "\n" not in output.strip(), output


def test_second_evaluation_reads_the_cache(oct_data, cache):
    from synthbench.metrics.cache import FeatureCache
    from synthbench.metrics.evaluate import EvalSettings
    from synthbench.metrics.evaluate import evaluate as run_evaluation

    settings = EvalSettings(cache_dir=cache.root, breakdown=False)
    synthetic = oct_data.val
    first = run_evaluation(oct_data, synthetic, ["fd", "kd"], settings)
    second = run_evaluation(oct_data, synthetic, ["fd", "kd"], settings)
    assert second.cache_misses == 0 and second.cache_hits >= 2
    assert [r.value for r in first.rows] == [r.value for r in second.rows]
    assert FeatureCache(cache.root).root == cache.root
    assert np.isfinite([r.value for r in second.rows]).all()
