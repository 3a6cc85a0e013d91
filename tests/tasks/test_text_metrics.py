"""Report metrics against references that are not the libraries they wrap: pycocoevalcap
(CIDEr, BLEU) and hand-worked cases (BLEU, ROUGE-L, clinical efficacy)."""

import math

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


@pytest.mark.parametrize(
    ("candidates", "references", "n_gram", "expected"),
    [
        # p1 4/5, p2 3/4, p3 2/3, p4 1/2; same lengths
        (["a b c d e"], [["a b c d f"]], 4, 0.2**0.25),
        # corpus counts: p1 (3+2)/(4+2), p2 (2+1)/(3+1); brevity: 6 candidate vs 7 reference tokens
        (
            ["a b c d", "x y"],
            [["a b c e"], ["x y z"]],
            2,
            math.exp(1 - 7 / 6) * (5 / 6 * 3 / 4) ** 0.5,
        ),
        # clipped counts: "the" is in the reference once
        (["the the the the"], [["the cat sat on"]], 1, 0.25),
        # punctuation and decimals are tokens: p1 4/5, p2 2/4
        (["oct : 1.6 mm ."], [["oct : 1.8 mm ."]], 2, 0.4**0.5),
        # the reference closest in length (5) sets the brevity penalty: exp(1 - 5/4)
        (["a b c d"], [["a b c d e f g h", "a b c d e"]], 1, math.exp(1 - 5 / 4)),
    ],
)
def test_bleu_hand_cases(candidates, references, n_gram, expected):
    assert bleu(candidates, references, n_gram) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("candidates", "references", "expected"),
    [
        # longest common subsequence 3 of 4 and of 5 tokens: F1 of 3/4 and 3/5
        (["a b c d"], [["a c b d e"]], 2 / 3),
        # punctuation and decimals are tokens: 4 of 5 in common
        (["oct : 1.6 mm ."], [["oct : 1.8 mm ."]], 0.8),
        # the best reference counts (F1 2/3 against 1/2), and the corpus score is the mean
        (["a b c d", "p q"], [["a b c d e f g h", "x a b y"], ["p q"]], (2 / 3 + 1) / 2),
        (["a b"], [["c d"]], 0.0),
    ],
)
def test_rouge_l_hand_cases(candidates, references, expected):
    assert rouge_l(candidates, references) == pytest.approx(expected, rel=1e-6)


def test_bleu_matches_pycocoevalcap():
    from pycocoevalcap.bleu.bleu import Bleu

    multi = [[r, REFS[(i + 2) % 4]] for i, r in enumerate(REFS)]  # two references per image
    for refs in ([[r] for r in REFS], multi):
        gts = {i: list(r) for i, r in enumerate(refs)}
        res = {i: [h] for i, h in enumerate(HYPS)}
        scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
        # pycocoevalcap adds 1e-9 to every n-gram match count
        assert bleu(HYPS, refs, 2) == pytest.approx(scores[1], rel=1e-6)
        assert bleu(HYPS, refs, 4) == pytest.approx(scores[3], rel=1e-6)
    assert bleu(REFS, [[r] for r in REFS], 4) == pytest.approx(1.0)
    assert rouge_l(REFS, [[r] for r in REFS]) == pytest.approx(1.0)


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
