"""Report metrics: tokenisation, CIDEr-D, BLEU and ROUGE-L (torchmetrics), clinical efficacy.

>>> tokenize("Chest CT: A 12 mm nodule.")
['chest', 'ct', ':', 'a', '12', 'mm', 'nodule', '.']
>>> round(cider(["a b c d"], [["a b c d"]]), 3)   # one image: every idf is log(1) - log(1) = 0
0.0

CIDEr here is CIDEr-D (Vedantam et al., CVPR 2015), the variant COCO caption evaluation reports
as "CIDEr": per n-gram order n = 1..4, TF-IDF vectors (raw counts times log(#images /
document frequency over the references)), the candidate's values clipped at the reference's in
the numerator, a Gaussian length penalty (sigma 6), averaged over references and orders, x10.
Captions are compared as whitespace-separated tokens; pass them through :func:`tokenize` first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

_TOKEN = re.compile(r"\w+(?:\.\d+)?|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-case words (decimals kept whole, ``1.6``) and punctuation marks."""
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: Sequence[str], n_max: int) -> list[Counter]:
    return [
        Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        for n in range(1, n_max + 1)
    ]


def cider(
    candidates: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    n_max: int = 4,
    sigma: float = 6.0,
) -> float:
    """Corpus CIDEr-D of whitespace-tokenised ``candidates`` against their ``references``."""
    return float(np.mean(cider_per_sample(candidates, references, n_max=n_max, sigma=sigma)))


def cider_per_sample(
    candidates: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    n_max: int = 4,
    sigma: float = 6.0,
) -> np.ndarray:
    """CIDEr-D of each candidate (the idf comes from all references of the corpus)."""
    if len(candidates) != len(references) or not candidates:
        raise ValueError("cider needs one list of references per candidate, and some candidates")
    cand = [c.split() for c in candidates]
    refs = [[r.split() for r in rs] for rs in references]
    document_freq: Counter = Counter()
    for rs in refs:
        seen = set()
        for r in rs:
            for counts in _ngrams(r, n_max):
                seen.update(counts)
        document_freq.update(seen)
    log_images = math.log(len(candidates))

    def vectors(tokens: list[str]) -> tuple[list[dict], list[float]]:
        vecs, norms = [], []
        for counts in _ngrams(tokens, n_max):
            vec = {
                g: tf * (log_images - math.log(max(1.0, document_freq[g])))
                for g, tf in counts.items()
            }
            vecs.append(vec)
            norms.append(math.sqrt(sum(v * v for v in vec.values())))
        return vecs, norms

    scores = np.zeros(len(cand))
    for i, (c, rs) in enumerate(zip(cand, refs)):
        c_vecs, c_norms = vectors(c)
        total = np.zeros(n_max)
        for r in rs:
            r_vecs, r_norms = vectors(r)
            penalty = math.exp(-((len(c) - len(r)) ** 2) / (2 * sigma**2))
            for n in range(n_max):
                dot = sum(
                    min(v, r_vecs[n].get(g, 0.0)) * r_vecs[n].get(g, 0.0)
                    for g, v in c_vecs[n].items()
                )
                if c_norms[n] and r_norms[n]:
                    total[n] += penalty * dot / (c_norms[n] * r_norms[n])
        scores[i] = 10.0 * total.mean() / len(rs)
    return scores


def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]], n_gram: int) -> float:
    """Corpus BLEU-n (torchmetrics) of whitespace-tokenised captions."""
    from torchmetrics.functional.text import bleu_score

    return float(bleu_score(list(candidates), [list(r) for r in references], n_gram=n_gram))


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean ROUGE-L F-measure (torchmetrics), best reference per candidate, over whitespace
    tokens like the other scores (torchmetrics by default drops punctuation and splits
    decimals: ``1.6`` would match ``1.8`` on ``1``)."""
    from torchmetrics.functional.text import rouge_score

    scores = rouge_score(
        list(candidates),
        [list(r) for r in references],
        rouge_keys="rougeL",
        accumulate="best",
        normalizer=_unchanged,
        tokenizer=str.split,
    )
    return float(scores["rougeL_fmeasure"])


def _unchanged(text: str) -> str:
    return text


def clinical_efficacy(
    generated: Sequence[str], reference: Sequence[str], cohort: Cohort
) -> dict[str, float] | None:
    """Micro precision, recall and F1 of the findings the rule-based labeller reads in generated
    reports against those it reads in the true reports (each in the sample's modality); None
    when no sample is of a modality the labeller knows."""
    from synthbench.data.phantoms import MODALITIES, label_report

    if not any(str(m) in MODALITIES for m in cohort.modality):
        return None
    names = list(cohort.finding_names)
    pred = np.zeros((len(generated), len(names)), int)
    true = np.zeros_like(pred)
    for i, (g, r, mod) in enumerate(zip(generated, reference, cohort.modality)):
        modality = str(mod) if str(mod) in MODALITIES else None
        for matrix, text in ((pred, g), (true, r)):
            for f in label_report(text, modality).findings:
                if f in names:
                    matrix[i, names.index(f)] = 1
    # micro averages over (sample, finding) pairs; written out because scikit-learn reads a
    # one-finding indicator matrix as a binary target and would average over both classes
    tp = int((pred & true).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(true.sum()), 1)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1}
