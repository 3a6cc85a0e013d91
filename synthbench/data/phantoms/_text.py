"""Helpers for writing varied free-text reports and reading them back.

Reports are built from sentences; each finding has several phrasings (picked at random per
patient), absent findings are sometimes stated as negations, and sentence order is shuffled. The
labeller side uses regular expressions with negation scoping: a finding mentioned after "no",
"without", "negative for" ... within the same clause does not count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

NEGATION_CUES = (
    r"\bno\b",
    r"\bnot\b",
    r"\bwithout\b",
    r"\bnegative for\b",
    r"\bfree of\b",
    r"\babsent\b",
    r"\babsence of\b",
    r"\bresolved\b",
    r"\bruled out\b",
    r"\bnor\b",
)
_NEG_RE = re.compile("|".join(NEGATION_CUES), re.IGNORECASE)
# a full stop ends a clause, a decimal point ("1.4 cm", "ratio 0.56") does not
_CLAUSE_SPLIT = re.compile(
    r"(?<!\d)\.|\.(?!\d)|[;:]|\bbut\b|\bhowever\b|\balthough\b", re.IGNORECASE
)
# "Nodules: none" keeps its negation inside one clause once the colon is dropped
_COLON_NEGATION = re.compile(
    r":\s*(?=(?:none|no|absent|negative|not seen|not identified)\b)", re.IGNORECASE
)
# negation that follows the finding within a few words: "cysts are absent", "fluid has resolved"
POST_NEGATION = re.compile(
    r"^\W*(?:\w+\W+){0,4}?(?:none|not (?:seen|identified|present|detected|visuali[sz]ed)"
    r"|absent|(?:has |have )?(?:resolved|regressed|disappeared)|ruled out|excluded)\b",
    re.IGNORECASE,
)


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One option at random."""
    return options[int(rng.integers(len(options)))]


def join_report(prompt_name: str, sentences: list[str], rng: np.random.Generator) -> str:
    """``"<Modality>: s1 s2 ..."`` with the sentences in random order and capitalised."""
    order = rng.permutation(len(sentences))
    body = " ".join(_sentence(sentences[i]) for i in order)
    return f"{prompt_name}: {body}"


def _sentence(s: str) -> str:
    s = s.strip()
    if not s:
        return s
    s = s[0].upper() + s[1:]
    return s if s.endswith(".") else s + "."


def clauses(text: str) -> list[str]:
    """Split a report into clauses, the scope of negation."""
    text = _COLON_NEGATION.sub(" ", text)
    return [c.strip() for c in _CLAUSE_SPLIT.split(text) if c and c.strip()]


def affirms(clause: str, pattern: str | re.Pattern[str]) -> bool:
    """True when ``pattern`` occurs in ``clause`` negated neither before it ("no drusen") nor
    just after it ("drusen are absent")."""
    rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    for m in rx.finditer(clause):
        if _NEG_RE.search(clause[: m.start()]) or POST_NEGATION.search(clause[m.end() :]):
            continue
        return True
    return False


def asserted(text: str, pattern: str | re.Pattern[str]) -> bool:
    """True when some clause of ``text`` affirms ``pattern`` (see :func:`affirms`)."""
    rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    return any(affirms(clause, rx) for clause in clauses(text))


def mentioned(text: str, pattern: str | re.Pattern[str]) -> bool:
    """True when ``pattern`` occurs anywhere, negated or not."""
    rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    return rx.search(text) is not None


def modality_prefix(text: str) -> str | None:
    """The ``Modality`` part of ``"Modality: findings"``, or None when absent."""
    m = re.match(r"\s*([A-Za-z][A-Za-z \-]{0,30}?)\s*:", text)
    return m.group(1).strip() if m else None


_MM = re.compile(r"(\d+(?:\.\d+)?)\s*(mm|cm)\b", re.IGNORECASE)


def first_size_mm(text: str) -> float | None:
    """The first size in the text, in millimetres ("14 mm", "2.3 cm"), or None."""
    m = _MM.search(text)
    if not m:
        return None
    value = float(m.group(1))
    return value * 10.0 if m.group(2).lower() == "cm" else value


def size_text(rng: np.random.Generator, mm: float) -> str:
    """A size as a radiologist might write it: "14 mm" or "1.4 cm"."""
    if mm >= 10 and rng.random() < 0.3:
        return f"{mm / 10:.1f} cm"
    return f"{round(mm):d} mm"


def size_word(rng: np.random.Generator, mm: float, *, small_max: float, large_min: float) -> str:
    """ "small " or "large " (with its trailing space) for a clearly small or large lesion, most of
    the time; "" for middling sizes and the rest, as readers do not always grade size in words."""
    if rng.random() >= 0.8:
        return ""
    if mm <= small_max:
        return "small "
    if mm >= large_min:
        return "large "
    return ""


class BulkDraws:
    """Uniform numbers drawn in bulk, served through the Generator methods the text helpers call.

    Reports need tens of thousands of small random choices; one numpy call each costs
    microseconds, a Python list lookup almost nothing. Deterministic given the generator.
    """

    def __init__(self, rng: np.random.Generator, block: int) -> None:
        self._rng, self._block = rng, max(block, 64)
        self._values: list[float] = []

    def random(self) -> float:
        if not self._values:
            self._values = self._rng.random(self._block).tolist()
        return self._values.pop()

    def integers(self, low: int, high: int | None = None) -> int:
        if high is None:
            low, high = 0, low
        return low + min(int(self.random() * (high - low)), high - low - 1)

    def permutation(self, k: int) -> list[int]:
        keys = [self.random() for _ in range(k)]
        return sorted(range(k), key=keys.__getitem__)
