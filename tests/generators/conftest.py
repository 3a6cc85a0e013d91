"""Shared fixtures: tiny phantom data and one fitted smoke-profile generator of each kind."""

import pytest

#: a few training steps are enough to test the wiring; quality is the perf scripts' job
SMOKE_STEPS = 8


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # the CI machines are small and shared: one thread avoids OpenMP oversubscription,
    # which made tiny models 50x slower there
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mixed_data():
    """OCT (grayscale) + fundus (RGB) in one 3-channel cohort, 16 px."""
    from synthbench.data.source import load_data

    return load_data("phantom:oct,fundus?n=24&size=16")


@pytest.fixture(scope="session")
def oct_data():
    from synthbench.data.source import load_data

    return load_data("phantom:oct?n=40&size=16")


_FITTED: dict = {}


def unfitted(name: str, data, folder_root):
    """A smoke-profile generator with what it needs to fit (external folders, a pipeline)."""
    from synthbench.generators.base import create_generator, get_generator_class

    cls = get_generator_class(name)
    overrides = {"steps": SMOKE_STEPS} if cls.capabilities.trains else {}
    if name == "folder":
        overrides["path"] = str(external_folder(folder_root / "folder"))
    if name == "best-of-n":
        overrides.update(best_of_n_parts(folder_root / "best-of-n", data))
    if name == "minim-adapted":
        overrides["init_from"] = str(minim_base(folder_root / "minim-base", data))
    if name == "diffusers":
        overrides.update(
            pipeline=str(tiny_pipeline(folder_root / "pipeline", data.train.text)),
            num_inference_steps=3,
        )
    return create_generator(name, profile="smoke", **overrides)


def fitted(name: str, data, folder_root=None):
    """One smoke-profile generator per name, fit once per test session on ``data.train``."""
    import torch

    key = (name, id(data))
    if key not in _FITTED:
        gen = unfitted(name, data, folder_root)
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            _FITTED[key] = gen.fit(data.train, seed=0)
        finally:
            torch.set_num_threads(before)
    return _FITTED[key]


@pytest.fixture(scope="session")
def unfitted_generator(tmp_path_factory):
    """``unfitted_generator(name, data)``: a configured smoke-profile generator, not yet fit."""
    root = tmp_path_factory.mktemp("external-unfitted")
    return lambda name, data: unfitted(name, data, root)


@pytest.fixture(scope="session")
def fit_generator(tmp_path_factory):
    """``fit_generator(name, data)``: a fitted smoke-profile generator, cached per session."""
    root = tmp_path_factory.mktemp("external")
    return lambda name, data: fitted(name, data, root)


_FOLDER: list = []


def minim_base(folder, data):
    """A saved smoke minim trained on ``data.train``: what ``minim-adapted`` starts from."""
    from synthbench.generators.base import create_generator

    if not folder.exists():
        create_generator("minim", profile="smoke", steps=SMOKE_STEPS).fit(data.train, seed=0).save(
            folder
        )
    return folder


def best_of_n_parts(root, data):
    """A saved smoke cvae as the base and a reward model trained on made-up ratings of it."""
    import numpy as np

    from synthbench.feedback.batch import write_batch
    from synthbench.feedback.reward import RewardSettings, train_reward
    from synthbench.feedback.store import DB_FILE, Rating, RatingStore

    if not (root / "reward").is_dir():
        base = fitted("cvae", data)
        base.save(root / "base")
        write_batch(
            base.sample(16, seed=1),
            root / "batch",
            checkpoint=str(root / "base"),
            generator=base.name,
            config_hash=base.config_hash,
            seed=1,
        )
        store = RatingStore(root / "batch" / DB_FILE)
        rng = np.random.default_rng(0)
        for i in range(16):
            store.submit(
                Rating(
                    item_id=f"{i:05d}",
                    rater="r",
                    realism=int(rng.integers(1, 4)),
                    fidelity=int(rng.integers(1, 4)),
                )
            )
        train_reward([root / "batch"], RewardSettings(epochs=2)).save(root / "reward")
    return {"base": str(root / "base"), "reward": str(root / "reward")}


def external_folder(root):
    """A folder of 'externally made' images with a manifest: phantoms of another seed, saved as
    PNG (OCT, grayscale) and .npy (fundus, RGB) at 24 px, so reading resizes them."""
    if _FOLDER:
        return _FOLDER[0]
    import csv

    import numpy as np
    from PIL import Image

    from synthbench.data.phantoms import simulate

    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for modality in ("oct", "fundus"):
        batch = simulate(modality, 24, size=24, seed=5)
        for i, img in enumerate(batch.images):
            name = f"{modality}_{i:03d}"
            if modality == "oct":
                Image.fromarray(img[0]).save(root / f"{name}.png")
                file = f"{name}.png"
            else:
                np.save(root / f"{name}.npy", img)
                file = f"{name}.npy"
            rows.append([file, modality, int(batch.labels[i]), batch.reports[i]])
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "modality", "label", "text"])
        writer.writerows(rows)
    _FOLDER.append(root)
    return root


def tiny_pipeline(root, corpus):
    """A randomly initialised, tiny Stable Diffusion pipeline saved locally (16 px images), as a
    stand-in for a downloaded one."""
    if (root / "model_index.json").is_file():
        return root
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    from synthbench.generators.text import PromptTokenizer

    torch.manual_seed(0)
    words = PromptTokenizer.build(corpus, vocab_size=300, max_tokens=32)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words.tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        model_max_length=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=300,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=32,
            projection_dim=16,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 8),
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=16,
    )
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(root, safe_serialization=True)
    return root


@pytest.fixture(scope="session")
def cli():
    """``cli([...])`` runs ``synthbench train`` / ``generate`` / ``retune`` through a typer app."""
    import typer
    from typer.testing import CliRunner

    from synthbench.cli.generators import generate, retune, train

    app = typer.Typer()
    app.command("train")(train)
    app.command("generate")(generate)
    app.command("retune")(retune)
    runner = CliRunner()
    return lambda args: runner.invoke(app, args)
