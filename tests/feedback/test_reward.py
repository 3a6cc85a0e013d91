"""The reward model learns what the raters reward, says so on held-out items, and reports no
agreement when the ratings carry none."""

from dataclasses import replace

import numpy as np
import pytest

from synthbench.data.source import load_data
from synthbench.feedback.batch import FeedbackError, write_batch
from synthbench.feedback.reward import (
    RewardModel,
    RewardSettings,
    asked_for,
    prompt_features,
    prompt_labels,
    train_reward,
)
from synthbench.feedback.store import DB_FILE, Rating, RatingStore


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """150 real OCT images and 150 noise images with the same prompts."""
    real = load_data("phantom:oct?n=1000&size=32").test.subset(range(150))
    rng = np.random.default_rng(1)
    blur = real.images.astype(np.float32)
    noise = replace(
        real, images=np.clip(blur + rng.normal(0, 60, blur.shape), 0, 255).astype(np.uint8)
    )
    from synthbench.cohort import Cohort

    folder = tmp_path_factory.mktemp("reward") / "batch"
    write_batch(
        Cohort.concat([real, noise]),
        folder,
        checkpoint="-",
        generator="test",
        config_hash="-",
        seed=0,
    )
    return folder


def rate(folder, realism_of):
    store = RatingStore(folder / DB_FILE)
    for i in range(300):
        store.submit(Rating(item_id=f"{i:05d}", rater="r", realism=realism_of(i), fidelity=2))


def test_reward_model_learns_realism(batch, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    rate(folder, lambda i: 3 if i < 150 else 1)
    model = train_reward([folder], RewardSettings(epochs=30, held_out=0.3))
    assert model.agreement["n_held_out"] == 90
    assert model.agreement["realism_accuracy"] >= 0.9, model.agreement
    assert model.agreement["realism_spearman"] >= 0.7, model.agreement
    model.save(tmp_path / "rm")
    again = RewardModel.load(tmp_path / "rm")
    from synthbench.cohort import Cohort

    cohort = Cohort.load(folder / "cohort")
    prompts = list(cohort.text)
    assert np.allclose(again.predict(cohort.images, prompts), model.predict(cohort.images, prompts))
    r = again.reward(cohort.images, prompts)
    assert r[:150].mean() > r[150:].mean() + 0.8  # realism 3 vs 1, fidelity alike: 1.0 at best


def test_no_agreement_from_ratings_without_signal(batch, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    labels = np.random.default_rng(5).integers(1, 4, 300)
    rate(folder, lambda i: int(labels[i]))
    model = train_reward([folder], RewardSettings(epochs=30, held_out=0.3))
    assert abs(model.agreement["realism_spearman"]) < 0.35, model.agreement


def test_too_few_ratings_and_bad_model_folder(batch, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    RatingStore(folder / DB_FILE).submit(Rating(item_id="00000", rater="r", realism=3, fidelity=3))
    with pytest.raises(FeedbackError, match="at least 10 ratings"):
        train_reward([folder])
    (tmp_path / "junk").mkdir()
    with pytest.raises(FeedbackError, match="not a reward model"):
        RewardModel.load(tmp_path / "junk")


def test_prompt_features_are_normalised_and_word_order_matters_a_little():
    f = prompt_features(["OCT: large drusen.", "OCT: drusen large.", ""], 64)
    assert np.allclose(np.linalg.norm(f[:2], axis=1), 1.0) and not f[2].any()
    assert not np.allclose(f[0], f[1]) and f[0] @ f[1] > 0.5


def _own_or_other_reports(real, rng):
    """Each image's own report, or for half of them (``swap``) one of another class (another
    set of findings, for a multi-label modality)."""
    swap = rng.random(len(real)) < 0.5
    multi = len(set(real.label.tolist())) == 1
    key = [tuple(f.tolist()) for f in real.findings] if multi else real.label.tolist()
    text = list(real.text)
    for i in np.flatnonzero(swap):
        text[i] = real.text[rng.choice([j for j, k in enumerate(key) if k != key[i]])]
    return text, swap


def _rated_by_report(folder, real, text, swap):
    """A batch of ``real``'s images prompted with ``text``, rated fidelity 1 where the report is
    another image's (``swap``) and 3 where it is the image's own, realism 2 throughout."""
    from synthbench.cohort import Cohort

    prompted = Cohort.from_arrays(
        real.images,
        modality=list(real.modality),
        label=real.label,
        label_names=real.label_names,
        text=text,
    )
    write_batch(prompted, folder, checkpoint="-", generator="test", config_hash="-", seed=0)
    store = RatingStore(folder / DB_FILE)
    for i in range(len(real)):
        store.submit(Rating(item_id=f"{i:05d}", rater="r", realism=2, fidelity=1 if swap[i] else 3))
    return folder


def test_fidelity_is_learned_as_what_the_prompt_asks_for(tmp_path):
    """Real OCT images, each prompted with its own report (rated 3) or with a report of another
    class (rated 1): the class head learns which prompts an image shows."""

    real = load_data("phantom:oct?n=1000&size=32").train.subset(range(600))
    text, swap = _own_or_other_reports(real, np.random.default_rng(3))
    folder = _rated_by_report(tmp_path / "b", real, text, swap)
    model = train_reward([folder], RewardSettings(epochs=60, held_out=0.3, members=2))
    assert model.labels == ["oct/normal", "oct/drusen", "oct/dme", "oct/cnv"]
    assert model.agreement["fidelity_spearman"] >= 0.45, model.agreement
    model.save(tmp_path / "rm")
    again = RewardModel.load(tmp_path / "rm")
    assert len(again.nets) == 2
    pred = again.predict(real.images, text)
    assert np.allclose(pred, model.predict(real.images, text))
    assert pred[~swap, 1].mean() > pred[swap, 1].mean() + 0.5


def test_what_a_prompt_asks_for():
    prompts = [
        "OCT: RPE elevation from drusen, consistent with dry AMD.",
        "OCT: No drusen. No fluid. The foveal pit is well formed.",
        "CXR: Pulmonary nodule in the right upper lobe. Small left pleural effusion.",
        "a photograph of a cat",
        "Fundus: normal fundus.",  # a modality the labels lack
    ]
    labels = prompt_labels(prompts[:3])
    assert labels == [
        "cxr/cardiomegaly",
        "cxr/effusion",
        "cxr/consolidation",
        "cxr/nodule",
        "oct/normal",
        "oct/drusen",
        "oct/dme",
        "oct/cnv",
    ]
    kind, group, want = asked_for(prompts, labels)
    assert kind.tolist() == [1, 1, 2, 0, 0]
    assert group[0].tolist() == [0] * 4 + [1] * 4 and group[2].tolist() == [1] * 4 + [0] * 4
    assert not group[3:].any() and not want[3:].any()
    assert want[0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    assert want[1].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert want[2].tolist() == [0, 1, 0, 1, 0, 0, 0, 0]


def test_a_reward_model_of_an_earlier_form_is_refused_in_one_line(tmp_path):
    import json

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "reward.json").write_text(json.dumps({"channels": 1, "size": 32}))
    with pytest.raises(FeedbackError, match=r"earlier synthbench \(format 1") as info:
        RewardModel.load(tmp_path / "old")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("modality", "least", "margin"),
    [("oct", 0.35, 0.3), ("cxr", 0.15, 0.15)],  # seen: 0.50 vs 0.01; 0.29 vs 0.04
)
def test_pretraining_on_labelled_images_teaches_the_class_head(tmp_path, modality, least, margin):
    """40 ratings are too few to learn OCT's four classes or chest X-ray's four findings from;
    a reward model that first learns them from 600 labelled images tells an image's own report
    from another one on images neither saw, and one without that does much worse."""

    data = load_data(f"phantom:{modality}?n=1000&size=32")
    rng = np.random.default_rng(4)
    rated = data.val.subset(range(40))
    text, swap = _own_or_other_reports(rated, rng)
    folder = _rated_by_report(tmp_path / "b", rated, text, swap)

    fresh = data.test
    fresh_text, fresh_swap = _own_or_other_reports(fresh, np.random.default_rng(5))

    def gap(model):
        fidelity = model.predict(fresh.images, fresh_text)[:, 1]
        return fidelity[~fresh_swap].mean() - fidelity[fresh_swap].mean()

    settings = RewardSettings(epochs=30, members=2)
    plain = train_reward([folder], settings)
    taught = train_reward(
        [folder], replace(settings, pretrain_epochs=8), labelled=data.train.subset(range(600))
    )
    assert taught.n_pretrain == 600 and plain.n_pretrain == 0
    assert gap(taught) > least, gap(taught)  # of at most 2 (fidelity 3 against 1)
    assert gap(taught) > gap(plain) + margin, (gap(taught), gap(plain))
    taught.save(tmp_path / "rm")
    again = RewardModel.load(tmp_path / "rm")
    assert again.settings.pretrain_epochs == 8 and again.n_pretrain == 600

    if modality != "oct":
        return
    with pytest.raises(FeedbackError, match="needs labelled images"):
        train_reward([folder], replace(settings, pretrain_epochs=5))
    cxr = load_data("phantom:cxr?n=200&size=32").train
    with pytest.raises(FeedbackError, match=r"no report of a modality .* \(oct\)"):
        train_reward([folder], replace(settings, pretrain_epochs=1), labelled=cxr)
