"""Report metrics against their references: pycocoevalcap (CIDEr), torchmetrics (BLEU, ROUGE-L)."""

import pytest

from synthbench.tasks.text_metrics import (
    bleu,
    cider,
    cider_per_sample,
    clinical_efficacy,
    rouge_l,
    tokenize,
)

REFS = [
    "chest ct : a solid nodule of 12 mm in the left lower lobe .",
    "oct : no subretinal fluid . normal foveal depression .",
    "oct : drusen beneath the rpe , largest 120 um .",
    "chest ct : no pulmonary nodule . lungs are clear .",
]
HYPS = [
    "chest ct : a nodule of 12 mm in the right lower lobe .",
    "oct : normal foveal depression .",
    "oct : drusen beneath the rpe .",
    "chest ct : a solid nodule of 9 mm .",
]


def test_tokenize():
    assert tokenize("OCT: CST 358 um, extent 1.6 mm.") == [
        "oct",
        ":",
        "cst",
        "358",
        "um",
        ",",
        "extent",
        "1.6",
        "mm",
        ".",
    ]


def test_cider_matches_pycocoevalcap():
    from pycocoevalcap.cider.cider import Cider

    multi = [[r, REFS[(i + 1) % 4]] for i, r in enumerate(REFS)]  # two references per image
    for refs in ([[r] for r in REFS], multi):
        gts = {i: list(r) for i, r in enumerate(refs)}
        res = {i: [h] for i, h in enumerate(HYPS)}
        score, per_image = Cider().compute_score(gts, res)
        assert cider(HYPS, refs) == pytest.approx(score, rel=1e-9)
        assert cider_per_sample(HYPS, refs) == pytest.approx(per_image, rel=1e-9)


def test_cider_hand_case():
    # two images; every n-gram of image 0's reference that image 1 lacks has idf log(2)
    assert cider(["a b", "c d"], [["a b"], ["c d"]]) == pytest.approx(10.0 * 2 / 4)


def test_bleu_and_rouge_match_torchmetrics():
    from torchmetrics.text import BLEUScore, ROUGEScore

    refs = [[r] for r in REFS]
    for n in (2, 4):
        assert bleu(HYPS, refs, n) == pytest.approx(float(BLEUScore(n_gram=n)(HYPS, refs)))
    reference = ROUGEScore(rouge_keys="rougeL")(HYPS, refs)["rougeL_fmeasure"]
    assert rouge_l(HYPS, refs) == pytest.approx(float(reference))
    assert bleu(REFS, refs, 4) == pytest.approx(1.0)
    assert rouge_l(REFS, refs) == pytest.approx(1.0)


def test_clinical_efficacy_hand_case():
    import numpy as np

    from synthbench.cohort import Cohort

    cohort = Cohort.from_arrays(
        np.zeros((3, 1, 16, 16), np.uint8),
        modality="chest_ct",
        finding_names=["nodule"],
    )
    generated = [
        "Chest CT: A solid nodule of 9 mm.",
        "Chest CT: A nodule of 5 mm.",
        "Chest CT: No nodule.",
    ]
    truth = [
        "Chest CT: A solid nodule of 12 mm.",
        "Chest CT: No pulmonary nodule.",
        "Chest CT: A 7 mm nodule.",
    ]
    scores = clinical_efficacy(generated, truth, cohort)
    # one true positive, one false positive, one false negative
    assert scores == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
