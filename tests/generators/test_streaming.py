"""``sample_to_disk``: chunked sampling into a cohort folder, and resuming an interrupted run."""

import numpy as np
import pytest

from synthbench.cohort import Cohort
from synthbench.errors import SynthbenchError
from synthbench.generators.streaming import sample_to_disk, stale_work_folders

N = 200  # four chunks of 64 rows (the last one 8)


@pytest.fixture(scope="module")
def generator(oct_data):
    from synthbench.generators.base import create_generator

    return create_generator("classical-aug", profile="smoke").fit(oct_data.train, seed=0)


class Interrupted(Exception):
    pass


def _stop_after(chunks: int):
    def on_chunk(done: int, total: int) -> None:
        if done >= chunks * 64:
            raise Interrupted

    return on_chunk


def _counting(generator, monkeypatch) -> list[int]:
    """Record the first row of every chunk the generator actually samples."""
    starts: list[int] = []
    original = type(generator)._sample_range

    def sample_range(self, resolved, seed, start, stop):
        starts.append(start)
        return original(self, resolved, seed, start, stop)

    monkeypatch.setattr(type(generator), "_sample_range", sample_range)
    return starts


def test_equals_sample_and_leaves_no_work_folder(generator, tmp_path):
    out = sample_to_disk(generator, N, tmp_path / "synth", seed=3, chunk_size=64)
    cohort, direct = Cohort.load(out), generator.sample(N, seed=3)
    np.testing.assert_array_equal(cohort.images, direct.images)
    assert list(cohort.text) == list(direct.text)
    assert cohort.modalities == direct.modalities
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_an_interrupted_run_resumes_from_its_chunks(generator, tmp_path, monkeypatch):
    out = tmp_path / "synth"
    with pytest.raises(Interrupted):
        sample_to_disk(generator, N, out, seed=3, chunk_size=64, on_chunk=_stop_after(2))
    (work,) = stale_work_folders(out)
    assert not out.exists() and sorted(p.name for p in work.iterdir()) == [
        "chunk-00000",
        "chunk-00001",
    ]
    (work / "chunk-00002.partial").mkdir()  # debris of a chunk being written when killed
    starts = _counting(generator, monkeypatch)
    progress: list[int] = []
    resumed: list[tuple[int, int]] = []
    sample_to_disk(
        generator,
        N,
        out,
        seed=3,
        chunk_size=64,
        on_chunk=lambda done, total: progress.append(done),
        on_resume=lambda reused, total: resumed.append((reused, total)),
    )
    assert starts == [128, 192] and progress == [64, 128, 192, 200] and resumed == [(128, N)]
    np.testing.assert_array_equal(Cohort.load(out).images, generator.sample(N, seed=3).images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_chunks_of_another_request_are_not_reused(generator, tmp_path, monkeypatch):
    out = tmp_path / "synth"
    with pytest.raises(Interrupted):
        sample_to_disk(generator, N, out, seed=1, chunk_size=64, on_chunk=_stop_after(1))
    starts = _counting(generator, monkeypatch)
    sample_to_disk(generator, N, out, seed=2, chunk_size=64)
    assert starts == [0, 64, 128, 192]
    np.testing.assert_array_equal(Cohort.load(out).images, generator.sample(N, seed=2).images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_an_existing_file_is_refused_and_kept(generator, tmp_path):
    out = tmp_path / "synth"
    out.write_text("mine")
    with pytest.raises(SynthbenchError, match="an existing file"):
        sample_to_disk(generator, 8, out)
    assert out.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_an_empty_request_writes_nothing(generator, tmp_path):
    from synthbench.generators.conditions import Conditions

    with pytest.raises(SynthbenchError, match="no images"):
        sample_to_disk(generator, Conditions.from_prompts([]), tmp_path / "synth")
    assert not any(tmp_path.iterdir())
