"""No training text leaves with a checkpoint: every registered generator, trained (smoke profile)
on reports that carry a marker, writes no file that contains the marker or any whole report."""

import numpy as np
import pytest

from synthbench.registry import builtin_names, generators

GENERATOR_NAMES = builtin_names(generators)
MARKER = "Seen by Dr Quillfeather-Zx7 at the Marker Clinic"


@pytest.fixture(scope="module")
def marked(mixed_data):
    """The training split with the marker, and a per-patient number, in every report."""
    train = mixed_data.train.subset(np.arange(len(mixed_data.train)))
    train.text = [f"{t} {MARKER}, record {i:05d}-QZ." for i, t in enumerate(train.text)]
    return train


def _leaks(folder, needles):
    """Files under ``folder`` holding any of ``needles`` (as written, or lower-cased)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for needle in needles:
            if needle.encode() in data or needle.lower().encode() in data.lower():
                found.append((path.relative_to(folder).as_posix(), needle[:40]))
                break
    return found


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_no_training_report_in_any_file_of_the_checkpoint(
    name, mixed_data, marked, unfitted_generator, tmp_path
):
    gen = unfitted_generator(name, mixed_data).fit(marked, seed=0)
    ckpt = gen.save(tmp_path / name)
    assert any(ckpt.rglob("*")), name
    assert _leaks(ckpt, [MARKER, *marked.text]) == [], name
    # what sampling needs is still there: balanced conditions come with rebuilt prompts
    if gen.capabilities.produces_images:
        out = gen.sample(4, seed=0)
        assert len(out) == 4 and not any(MARKER in t for t in out.text)


def test_the_scan_finds_reports_kept_on_request(mixed_data, marked, tmp_path):
    """``classical-aug`` with ``keep_reports`` keeps every report (with a one-line warning):
    the scan above finds them there, so it would find them anywhere."""
    from synthbench.generators.base import create_generator
    from synthbench.generators.classical_aug import ReportsKeptWarning

    with pytest.warns(ReportsKeptWarning, match="holds all .* training reports verbatim"):
        gen = create_generator("classical-aug", keep_reports=True).fit(marked, seed=0)
    ckpt = gen.save(tmp_path / "kept")
    assert {path for path, _ in _leaks(ckpt, [MARKER])} == {"images.json"}
    out = gen.sample(4, seed=0)
    assert all(MARKER in t for t in out.text)  # each copy carries its source's report
