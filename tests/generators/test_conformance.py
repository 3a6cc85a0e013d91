"""Every built-in generator, smoke profile: fit, seeded sampling, save / load, output schema."""

import numpy as np
import pytest

from synthbench.cohort import Cohort
from synthbench.generators.base import Generator, load_generator
from synthbench.generators.conditions import Conditions
from synthbench.registry import builtin_names, generators

GENERATOR_NAMES = builtin_names(generators)


@pytest.fixture(params=GENERATOR_NAMES)
def gen(request, mixed_data, fit_generator) -> Generator:
    return fit_generator(request.param, mixed_data)


def test_every_design_generator_is_registered():
    expected = {
        "real-only",
        "classical-aug",
        "ddpm",
        "cgan",
        "cvae",
        "minim",
        "folder",
        "diffusers",
    }
    assert expected <= set(GENERATOR_NAMES)


def test_declares_contract(gen):
    assert gen.capabilities.conditioning in ("text", "label", "none")
    assert len(gen.config_hash) == 12
    assert gen.config_hash == gen.config.config_hash(gen.name)
    with pytest.raises(AttributeError):
        gen.config.__setattr__("x", 1)  # frozen


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_fit_returns_self_and_profiles_exist(name, mixed_data, unfitted_generator):
    from synthbench.config import PROFILES
    from synthbench.errors import SynthbenchError
    from synthbench.generators.base import get_generator_class

    gen = unfitted_generator(name, mixed_data)
    with pytest.raises(SynthbenchError, match="call fit"):
        gen.sample(2, seed=0)
    assert gen.fit(mixed_data.train, seed=0) is gen
    # fitted state ends in _: the training schema and the fit's record
    assert gen.schema_ is not None and gen.schema_.modalities == ("oct", "fundus")
    assert gen.fit_info_["n_train"] == len(mixed_data.train) and gen.fit_info_["seed"] == 0
    cls = get_generator_class(name)
    hashes = {cls.Config.for_profile(p).config_hash(name) for p in PROFILES}
    assert len(hashes) == (1 if not cls.capabilities.trains else len(PROFILES)), name


def test_same_seed_same_images_other_seed_differs(gen):
    a, b = gen.sample(12, seed=3), gen.sample(12, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.text == b.text and (a.label == b.label).all()
    if gen.capabilities.produces_images:
        c = gen.sample(12, seed=4)
        assert not np.array_equal(a.images, c.images)


def test_output_schema(gen, mixed_data):
    train = mixed_data.train
    out = gen.sample(10, seed=0)
    n = 10 if gen.capabilities.produces_images else 0
    assert isinstance(out, Cohort) and len(out) == n
    assert out.images.dtype == np.uint8 and out.image_shape == train.image_shape
    assert out.label_names == train.label_names and out.finding_names == train.finding_names
    assert all(s == f"{gen.name}@{gen.config_hash}?seed=0" for s in out.source)
    if n:
        assert set(out.modalities) == set(train.modalities)  # balanced over modalities
        for m in out.modalities:
            rows = out.modality == m
            native = int(train.channels[train.modality == m][0])
            assert (out.channels[rows] == native).all()
            if native == 1:  # grayscale modalities come back as replicated gray
                imgs = out.images[rows]
                assert (imgs == imgs[:, :1]).all()
        assert out.images.std() > 1.0  # not a constant image


def test_conditions_are_recorded(gen, mixed_data):
    if not gen.capabilities.produces_images:
        return
    wanted = Conditions.from_labels(
        ["drusen", "cnv", "glaucoma"], modality=["oct", "oct", "fundus"]
    )
    out = gen.sample(wanted, seed=0)
    assert out.modality.tolist() == ["oct", "oct", "fundus"]
    assert out.label.tolist() == [1, 3, 2]
    assert out.findings[0, out.finding_names.index("drusen")]
    like = mixed_data.train.subset(range(6))
    out = gen.sample(Conditions.like(like), seed=1)
    assert out.modality.tolist() == like.modality.tolist()
    assert out.label.tolist() == like.label.tolist()
    assert (out.findings == like.findings).all()


def test_save_load_same_images(gen, tmp_path):
    before = gen.sample(9, seed=5)
    gen.save(tmp_path / "ckpt")
    loaded = load_generator(tmp_path / "ckpt")
    assert type(loaded) is type(gen) and loaded.config == gen.config
    after = loaded.sample(9, seed=5)
    np.testing.assert_array_equal(before.images, after.images)
    assert before.text == after.text
    # no pickles anywhere in a checkpoint
    suffixes = {p.suffix for p in (tmp_path / "ckpt").rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".safetensors", ".md", ""}, suffixes


def test_chunks_equal_one_batch(gen):
    whole = gen.sample(40, seed=2)
    parts = list(gen.sample_chunks(40, seed=2, chunk_size=gen.block_size))
    if gen.capabilities.produces_images:
        assert len(parts) == -(-40 // gen.block_size)
        np.testing.assert_array_equal(np.concatenate([p.images for p in parts]), whole.images)
        assert [t for p in parts for t in p.text] == whole.text
        assert len({pid for p in parts for pid in p.patient_id}) == 40


def test_folder_errors(mixed_data, tmp_path):
    from synthbench.errors import SynthbenchError
    from synthbench.generators.base import create_generator

    with pytest.raises(SynthbenchError, match="needs path"):
        create_generator("folder").fit(mixed_data.train)
    with pytest.raises(SynthbenchError, match=r"no manifest\.csv"):
        create_generator("folder", path=str(tmp_path)).fit(mixed_data.train)
    (tmp_path / "manifest.csv").write_text("file,modality,label\na.png,brain_mri,0\n")
    with pytest.raises(SynthbenchError, match="never seen in training"):
        create_generator("folder", path=str(tmp_path)).fit(mixed_data.train)


def test_diffusers_errors(mixed_data, tmp_path):
    from synthbench.errors import SynthbenchError
    from synthbench.generators.base import create_generator

    with pytest.raises(SynthbenchError, match="needs pipeline"):
        create_generator("diffusers").fit(mixed_data.train)
    with pytest.raises(SynthbenchError, match=r"missing model_index\.json"):
        create_generator("diffusers", pipeline=str(tmp_path)).fit(mixed_data.train)


def test_label_generators_refuse_prompts_without_labels(mixed_data, fit_generator):
    from synthbench.errors import SynthbenchError

    gen = fit_generator("ddpm", mixed_data)
    with pytest.raises(SynthbenchError, match="conditioned on class labels"):
        gen.sample(Conditions.from_prompts(["OCT: drusen."]), seed=0)


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_fit_leaves_the_global_random_state_alone(name, mixed_data, unfitted_generator):
    import torch

    gen = unfitted_generator(name, mixed_data)
    torch.manual_seed(12345)
    np.random.seed(54321)
    torch_before, numpy_before = torch.random.get_rng_state(), np.random.get_state()
    gen.fit(mixed_data.train, seed=3)
    assert torch.equal(torch.random.get_rng_state(), torch_before), name
    numpy_after = np.random.get_state()
    assert numpy_after[0] == numpy_before[0] and (numpy_after[1] == numpy_before[1]).all(), name
    assert numpy_after[2:] == numpy_before[2:], name
