"""Breast MRI phantom: an axial dynamic contrast-enhanced (T1, no fat suppression) slice.

Two breasts hang as half-ovals at the top of the image (prone position, anterior up), over the
chest wall (pectoral muscle, dark lungs, bright blood pool of the heart). Fat is bright, the
fibroglandular tissue is grey and patchy or branching, and background parenchymal enhancement
(BPE, minimal to marked) brightens it. A tumour is an enhancing mass or a clumped non-mass
enhancement. HER2-positive tumours are, on average, larger and more irregular, with peritumoral
oedema, rapid washout and non-mass enhancement more often; the overlap is wide, so the receptor
status is predictable from the image only modestly. Reports carry the status as a pathology or
clinical-history sentence, as real staging MRI reports do.

Display follows the radiological convention: the patient's right breast is on the image left.
"""

from __future__ import annotations

import re

import numpy as np

from synthbench.data.phantoms._base import Factors, ModalityInfo, PhantomModality, ReportLabels
from synthbench.data.phantoms._common import col, grid, lerp, ramp, smoothstep
from synthbench.data.phantoms._text import (
    BulkDraws,
    asserted,
    first_size_mm,
    join_report,
    mentioned,
    pick,
    size_text,
)

# field of view: the image spans 2 normalised units = 260 mm
MM_PER_UNIT = 130.0
_BLOCK_PIXELS = 1 << 17
NO_TUMOUR, HER2_POSITIVE, HER2_NEGATIVE = 0, 1, 2
SIDES = ("right", "left")
DENSITY = ("almost entirely fatty", "scattered fibroglandular", "heterogeneously dense", "extreme")
BPE = ("minimal", "mild", "moderate", "marked")
MARGINS = ("circumscribed", "irregular", "spiculated")
SHAPES = ("oval", "round", "irregular")
KINETICS = ("persistent", "plateau", "washout")
NME_DISTRIBUTION = ("focal", "linear", "segmental", "regional")


def _ellipse_r2(y, x, cy, cx, ry, rx) -> np.ndarray:
    """Squared normalised elliptical radius: 1 on the boundary."""
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2


def _inside(r2: np.ndarray, soft) -> np.ndarray:
    """1 inside r2 < 1 with a rim ``soft`` wide in units of the radius (r2 is squared)."""
    return ramp(r2, 1.0, soft)


def _noise_pair(
    rng: np.random.Generator, n: int, size: int, scale_y: float, scale_x: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent zero-mean, unit-std correlated fields from one complex FFT.

    Blobs are elongated along y (toward the nipple); scales are fractions of the image.
    """
    white = rng.standard_normal((n, size, 2 * size), dtype=np.float32).view(np.complex64)
    freq = np.fft.fftfreq(size).astype(np.float32) * (np.pi * size)
    kernel = np.exp(-2.0 * ((scale_y * freq[:, None]) ** 2 + (scale_x * freq[None, :]) ** 2))
    # complex white noise is white in both domains, so filter it directly as a spectrum
    field = np.fft.ifft2(white * kernel.astype(np.complex64))
    pair = []
    for part in (field.real, field.imag):
        part = part.astype(np.float32)
        part /= np.maximum(part.std(axis=(-2, -1), keepdims=True), 1e-6)
        pair.append(part)
    return pair[0], pair[1]


class BreastMRI(PhantomModality):
    """Axial DCE breast MRI: no tumour, HER2-positive or HER2-negative tumour."""

    info = ModalityInfo(
        name="breast_mri",
        prompt_name="Breast MRI",
        channels=1,
        classes=("no_tumour", "her2_positive", "her2_negative"),
        findings=("her2_positive", "her2_negative"),
        biomarker="her2_positive",
        biomarker_values=("HER2-negative", "HER2-positive"),
        true_hazard_ratio=0.5,
        description="axial DCE breast MRI; HER2 status shown only modestly; survival on therapy",
    )

    # ------------------------------------------------------------------------------------------
    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        n = labels.shape[0]
        d = float(difficulty)
        tumour = labels != NO_TUMOUR
        positive = labels == HER2_POSITIVE
        # how far apart the HER2 groups sit in their image features (0: identical)
        sep = lerp(1.6, 0.35, d)

        def by_status(p_pos: float, p_neg: float) -> np.ndarray:
            mid = 0.5 * (p_pos + p_neg)
            half = 0.5 * (p_pos - p_neg) * sep
            p = np.where(positive, mid + half, mid - half)
            return tumour & (rng.random(n) < np.clip(p, 0.0, 1.0))

        # --- anatomy and acquisition ---------------------------------------------------------
        density_level = rng.beta(2.0, 2.2, n)
        bpe_level = rng.beta(1.6, 2.6, n)
        f: Factors = {
            "chest_wall_y": rng.uniform(0.05, 0.3, n),
            "breast_length": rng.uniform(0.45, 0.8, n),
            "breast_width": rng.uniform(0.32, 0.44, n),
            "breast_separation": rng.uniform(0.42, 0.52, n),
            "breast_asymmetry": rng.uniform(-0.06, 0.06, n),
            "body_width": rng.uniform(0.95, 1.1, n),
            "heart_size": rng.uniform(0.22, 0.32, n),
            "heart_x": rng.uniform(0.02, 0.16, n),
            "density_level": density_level,
            "density": np.minimum((density_level * 4).astype(np.int64), 3),
            "bpe_level": bpe_level,
            "bpe": np.minimum((bpe_level * 4).astype(np.int64), 3),
            "fat_level": rng.uniform(0.6, 0.74, n),
            "fgt_level": rng.uniform(0.22, 0.32, n),
            "muscle_level": rng.uniform(0.2, 0.3, n),
            "noise_sigma": rng.uniform(0.02, 0.05, n) * lerp(0.7, 1.3, d),
            "bias_x": rng.uniform(-0.15, 0.15, n),
            "bias_y": rng.uniform(-0.25, 0.05, n),
            "gamma": rng.uniform(0.8, 1.25, n),
        }

        # --- tumour ------------------------------------------------------------------------
        side = rng.integers(0, 2, n)
        hour = rng.integers(1, 13, n)
        log_size = np.where(
            positive,
            np.log(19.0) + 0.5 * np.log(1.35) * sep,
            np.log(19.0) - 0.5 * np.log(1.35) * sep,
        )
        size_mm = np.exp(log_size + rng.normal(0.0, 0.33, n)) * lerp(1.35, 0.85, d)
        size_mm = np.clip(np.round(size_mm), 6, 60)
        irr_shift = np.where(positive, 0.5, -0.5) * 0.22 * sep
        irregularity = np.clip(rng.beta(2.0, 2.0, n) + irr_shift, 0.0, 1.0)
        non_mass = by_status(0.3, 0.1)
        oedema = by_status(0.5, 0.2) & ~non_mass
        washout = by_status(0.7, 0.45)
        plateau = ~washout & (rng.random(n) < 0.5)
        kinetics = np.where(washout, 2, np.where(plateau, 1, 0))
        margin = np.where(irregularity > 0.72, 2, np.where(irregularity > 0.42, 1, 0))
        shape = np.where(margin == 0, rng.integers(0, 2, n), 2)
        necrosis = tumour & ~non_mass & (size_mm >= 25) & (rng.random(n) < 0.6)
        contrast = lerp(0.5, 0.14, d) * rng.uniform(0.75, 1.25, n)
        f.update(
            {
                "tumour": tumour.astype(np.int64),
                "her2_status": np.where(tumour, positive.astype(np.float64), np.nan),
                "side": np.where(tumour, side, -1),
                "clock_hour": np.where(tumour, hour, 0),
                "depth": rng.uniform(0.2, 0.75, n),
                "lateral_offset": rng.uniform(0.3, 0.85, n),
                "size_mm": np.where(tumour, size_mm, 0.0),
                "irregularity": np.where(tumour, irregularity, 0.0),
                "margin": np.where(tumour, margin, -1),
                "shape": np.where(tumour, shape, -1),
                "non_mass": non_mass.astype(np.int64),
                "nme_distribution": np.where(non_mass, rng.integers(1, 4, n), -1),
                "oedema": oedema.astype(np.int64),
                "kinetics": np.where(tumour, kinetics, -1),
                "necrosis": necrosis.astype(np.int64),
                "lesion_contrast": np.where(tumour, contrast, 0.0),
                "lesion_phase1": rng.uniform(0, 2 * np.pi, n),
                "lesion_phase2": rng.uniform(0, 2 * np.pi, n),
                "lesion_aspect": rng.uniform(0.8, 1.2, n),
                "spicule_count": rng.integers(6, 11, n),
                "indication": rng.integers(0, 4, n),
            }
        )
        return f

    # ------------------------------------------------------------------------------------------
    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        n = factors["tumour"].shape[0]
        # blocks of patients small enough for the CPU cache: far faster than one huge batch
        step = max(1, _BLOCK_PIXELS // (size * size))
        out = np.empty((n, 1, size, size), dtype=np.float32)
        for start in range(0, n, step):
            block = {k: v[start : start + step] for k, v in factors.items()}
            out[start : start + step] = self._render_block(block, size, rng)
        return out

    def _render_block(self, f: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        n = f["tumour"].shape[0]
        y, x = grid(size)
        y, x = y[:, :, :1], x[:, :1, :]  # (1, H, 1) and (1, 1, W): broadcast, never tiled
        px = 2.0 / size  # one pixel in normalised units
        chest = col(f["chest_wall_y"])
        body_w = col(f["body_width"])

        # thorax: a wide ellipse whose top edge is the anterior chest wall
        thorax_r2 = _ellipse_r2(y, x, chest + 1.0, 0.0, 1.0, body_w)
        thorax = _inside(thorax_r2, px)
        # breasts: tapering half-ovals hanging in front of the chest wall
        length = col(f["breast_length"])
        width = col(f["breast_width"])
        sep = col(f["breast_separation"])
        asym = col(f["breast_asymmetry"])
        breast = envelope = None
        for sign, grow in ((-1.0, 1.0 + asym), (1.0, 1.0 - asym)):
            along = (chest + 0.05 - y) / (length * grow)  # 0 at the chest wall, 1 at the nipple
            taper = 1.0 - 0.22 * np.clip(along, 0.0, 1.0)
            across2 = ((x - sign * sep) / (width * grow * taper)) ** 2
            one = _inside(along**2 + across2, px / width)
            nipple = _inside(
                _ellipse_r2(y, x, chest + 0.05 - length * grow, sign * sep, 0.035, 0.05), 0.2
            )
            # glandular cone behind the nipple, spared by subcutaneous and retromammary fat
            narrowing = (1.0 - 0.55 * np.clip(along, 0.0, 1.0)) ** 2
            cone = ramp(across2 / narrowing, 0.72, 0.2)
            cone *= smoothstep(0.92, 0.7, along) * smoothstep(0.03, 0.15, along)
            one = np.maximum(one, nipple)
            breast = one if breast is None else np.maximum(breast, one)
            envelope = cone if envelope is None else np.maximum(envelope, cone)
        breast *= 1.0 - thorax
        envelope *= breast
        body = np.maximum(breast, thorax)

        # fibroglandular tissue: patchy, with strands radiating toward the nipple
        patchy, strands = _noise_pair(rng, n, size, 0.04, 0.016)
        dens = col(f["density_level"])
        threshold = lerp(1.2, -1.0, dens) + 0.6
        fgt = ramp(patchy + 1.2 * envelope, threshold, 0.3)
        np.abs(strands, out=strands)
        fgt = np.maximum(fgt, ramp(strands, 0.1, 0.08) * (0.3 + 0.7 * dens))
        fgt *= envelope
        fat = col(f["fat_level"])
        fgt_level = col(f["fgt_level"]) + 0.42 * col(f["bpe_level"])
        img = body * fat + fgt * (fgt_level - fat)

        # chest wall: subcutaneous fat, pectoral muscle, then the thorax with lungs and heart
        wall = _inside(thorax_r2 / 0.92, px)
        inner = _inside(thorax_r2 / 0.81, px)
        img += (wall - inner) * (col(f["muscle_level"]) - fat)
        heart_s = col(f["heart_size"])
        heart_r2 = _ellipse_r2(
            y, x, chest + 0.2 + heart_s, col(f["heart_x"]), heart_s, heart_s * 1.35
        )
        lungs = None
        for sign in (-1.0, 1.0):
            lung_r2 = _ellipse_r2(y, x, chest + 0.85, sign * body_w * 0.5, 0.58, body_w * 0.28)
            lungs = lung_r2 if lungs is None else np.minimum(lungs, lung_r2)
        sternum = _ellipse_r2(y, x, chest + 0.14, 0.0, 0.035, 0.07)
        # one lookup for the deep structures: lung 0.04, heart 0.78, sternum 0.55, else 0.4
        deep = 0.4 + _inside(lungs, px * 2.0) * -0.36
        deep = np.where(heart_r2 < 1.0, 0.78, deep)
        deep = np.where(sternum < 1.0, 0.55, deep)
        img += inner * (deep - fat)

        if f["tumour"].any():
            img = self._add_tumour(img, f, y, x, px, breast, patchy, strands)

        # coil sensitivity, contrast, noise (magnitude image: Rician-like floor)
        img *= 1.0 + col(f["bias_x"]) * x + col(f["bias_y"]) * y
        np.clip(img, 0.0, 1.0, out=img)
        img **= col(f["gamma"])
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        noise *= col(f["noise_sigma"])
        img += noise
        np.abs(img, out=img)
        np.minimum(img, 1.0, out=img)
        return img[:, None]

    def _add_tumour(self, img, f, y, x, px, breast, patchy, strands):
        side_sign = np.where(f["side"] == 1, 1.0, -1.0)
        grow = 1.0 - f["breast_asymmetry"] * side_sign
        length = f["breast_length"] * grow
        width = f["breast_width"] * grow
        depth = f["depth"]
        hour_angle = f["clock_hour"] * (np.pi / 6.0)
        # clock face as seen facing the patient: 3 o'clock is the patient's left = image right
        lateral = np.sin(hour_angle) * f["lateral_offset"] * width * 0.75 * (1.0 - 0.6 * depth)
        cx = col(f["breast_separation"] * side_sign + lateral)
        cy = col(f["chest_wall_y"] - depth * length)
        radius = col(np.maximum(f["size_mm"], 1.0) / 2.0 / MM_PER_UNIT)
        aspect = col(f["lesion_aspect"])
        dist2 = ((y - cy) / (radius * aspect)) ** 2 + ((x - cx) * aspect / radius) ** 2
        # lobulated or irregular margin: the boundary wanders with the tissue texture
        dist2 *= 1.0 + col(f["irregularity"] * 0.45) * patchy
        soft = px / radius
        mass = _inside(dist2, soft)
        # spicules: strands of enhancement reaching out from spiculated masses
        spicules = ramp(strands, 0.12, 0.08) * ramp(dist2, 4.0, 1.5)
        mass = np.maximum(mass, spicules * col(f["margin"] == 2))
        # rim enhancement around a necrotic centre in large masses
        mass *= 1.0 - col(f["necrosis"] * 0.45) * ramp(dist2, 0.3, 0.2)
        mass *= 1.0 + 0.12 * patchy
        # non-mass enhancement: clumps in a segment pointing to the nipple
        distribution = f["nme_distribution"]
        elong = col(np.where(distribution == 1, 4.0, np.where(distribution == 3, 1.4, 2.4)))
        nme_r2 = ((y - cy) / radius) ** 2 + ((x - cx) * elong / radius) ** 2
        clumps = np.clip(ramp(strands, 0.25, 0.12) + ramp(patchy, -1.0, 0.4), 0.0, 1.0)
        nme = _inside(nme_r2, 0.3) * clumps
        lesion = np.where(col(f["non_mass"]) > 0, nme * 0.85, mass)
        lesion *= breast * col(f["tumour"])
        washout_boost = 1.0 + 0.08 * (f["kinetics"] == 2)
        level = col(np.minimum(f["fat_level"] + f["lesion_contrast"] * washout_boost, 1.0))
        # peritumoral oedema: a faint low-signal halo in the surrounding fat
        oedema = col(f["oedema"] * 0.1)
        halo = ramp(dist2, 2.5, 1.8) * (1.0 - mass) * breast
        img -= halo * oedema
        return img + lesion * (level - img)

    # ------------------------------------------------------------------------------------------
    def biomarker_status(self, factors: Factors) -> np.ndarray:
        return np.asarray(factors["her2_status"], dtype=np.float64)

    # ------------------------------------------------------------------------------------------
    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        f = factors
        rng = BulkDraws(rng, 24 * f["tumour"].shape[0])  # type: ignore[assignment]
        n = f["tumour"].shape[0]
        out = []
        for i in range(n):
            sentences = [_background_sentence(rng, int(f["density"][i]), int(f["bpe"][i]))]
            if f["tumour"][i]:
                sentences += _tumour_sentences(rng, f, i)
            else:
                sentences.append(pick(rng, _NORMAL))
                if rng.random() < 0.5:
                    sentences.append(pick(rng, _INDICATION[int(f["indication"][i])]))
                if rng.random() < 0.4:
                    sentences.append(pick(rng, _NO_NODES))
            out.append(join_report(self.info.prompt_name, sentences, rng))
        return out

    # ------------------------------------------------------------------------------------------
    def label_report(self, text: str) -> ReportLabels:
        negative = mentioned(text, _HER2_NEGATIVE_RX)
        positive = asserted(text, _HER2_POSITIVE_RX)
        found: set[str] = set()
        if negative:
            found.add("her2_negative")
        elif positive:
            found.add("her2_positive")
        measurements: dict[str, float] = {}
        if asserted(text, _LESION_RX):
            mm = first_size_mm(text)
            if mm is not None:
                measurements["size_mm"] = mm
        return ReportLabels(
            modality=self.info.name, findings=frozenset(found), measurements=measurements
        )


# --- report text ------------------------------------------------------------------------------

_HER2 = r"(?:HER-?2(?:/neu)?|ERBB2|c-?erbB-?2)"
_HER2_NEGATIVE_RX = re.compile(
    rf"{_HER2}[\s-]*(?:status\s*)?(?:is\s+|was\s+)?(?::\s*)?"
    r"(?:negative|neg\b|non-?amplified|not\s+(?:amplified|over-?expressed)|equivocal,?\s+FISH\s+negative"
    r"|0\b|1\+|low\b|-(?=\s|,|\)|/|$))"
    rf"|negative\s+for\s+{_HER2}"
    rf"|\b(?:without|no|absence\s+of)\s+(?:\w+\s+){{0,3}}{_HER2}\s+(?:gene\s+)?(?:amplification|over-?expression)"
    rf"|{_HER2}\s+(?:gene\s+)?(?:amplification|over-?expression)\s+(?:was\s+|is\s+)?(?:not\s+|un)(?:detected|identified|seen|present)"
    r"|triple[\s-]*negative",
    re.IGNORECASE,
)
_HER2_POSITIVE_RX = re.compile(
    rf"{_HER2}[\s-]*(?:status\s*)?(?:is\s+|was\s+)?(?::\s*)?"
    r"(?:positive|pos\b|\+(?!\w)|3\+|amplified|over-?expressing|over-?expressed|enriched)"
    rf"|positive\s+for\s+{_HER2}"
    rf"|{_HER2}\s+(?:gene\s+)?(?:amplification|over-?expression)",
    re.IGNORECASE,
)
_LESION_RX = re.compile(
    r"\bmass\b|\blesion\b|\btumou?r\b|non-?mass\s+enhancement|\bNME\b|\bcarcinoma\b|\bmalignan",
    re.IGNORECASE,
)

_NORMAL = (
    "no suspicious enhancement",
    "no suspicious mass or non-mass enhancement in either breast",
    "no enhancing lesion is identified in either breast",
    "both breasts are free of suspicious enhancement",
    "no abnormal enhancement identified",
    "no MRI evidence of malignancy; BI-RADS 1",
    "no focal mass, non-mass enhancement or architectural distortion",
    "negative examination without suspicious enhancing lesion",
    "no suspicious findings in either breast; BI-RADS 1, negative",
)
_NO_NODES = (
    "no axillary lymphadenopathy",
    "axillary lymph nodes are normal in size",
    "no enlarged axillary or internal mammary nodes",
)
_INDICATION = (
    ("high-risk screening", "indication: annual high-risk screening MRI"),
    ("screening for strong family history", "indication: family history of breast cancer"),
    ("supplemental screening for dense breasts", "indication: dense breast tissue on mammography"),
    (
        "problem-solving after equivocal mammogram",
        "clinical history: equivocal mammographic finding",
    ),
)
_HER2_POS_TEXT = (
    "known HER2-positive invasive ductal carcinoma",
    "biopsy-proven HER2-positive carcinoma",
    "core biopsy: invasive carcinoma, HER2 amplified",
    "history: HER2-positive breast cancer, staging examination",
    "pathology: HER2-overexpressing invasive carcinoma (IHC 3+)",
    "clinical indication: staging of newly diagnosed HER2+ breast cancer",
    "receptor status from biopsy: ER-negative, HER2-positive",
    "biopsy showed invasive ductal carcinoma with HER2 amplification on FISH",
    "pre-treatment staging of HER2-enriched carcinoma before neoadjuvant trastuzumab",
)
_HER2_NEG_TEXT = (
    "known HER2-negative invasive ductal carcinoma",
    "biopsy-proven HER2-negative carcinoma",
    "core biopsy: invasive carcinoma, HER2 not amplified",
    "history: ER-positive, HER2-negative breast cancer, staging examination",
    "pathology: invasive carcinoma negative for HER2 (IHC 1+)",
    "clinical indication: staging of newly diagnosed HER2-negative breast cancer",
    "receptor status from biopsy: ER-positive, PR-positive, HER2 negative",
    "biopsy showed invasive lobular carcinoma without HER2 amplification",
    "pre-treatment staging of triple-negative carcinoma",
)
_KINETICS_TEXT = (
    (
        "persistent delayed enhancement (type 1 curve)",
        "kinetics show progressive enhancement",
        "type I persistent kinetic curve",
    ),
    (
        "plateau kinetics",
        "type 2 (plateau) enhancement curve",
        "the lesion shows a plateau pattern on delayed phases",
    ),
    (
        "rapid washout",
        "rapid initial enhancement with washout (type 3 curve)",
        "kinetic analysis shows washout",
        "type III washout curve",
    ),
)
_OEDEMA_TEXT = (
    "peritumoral oedema",
    "surrounding oedema on the T2-weighted images",
    "perilesional oedema is present",
    "peritumoural edema",
    "associated peritumoral T2 hyperintensity in keeping with oedema",
)
_NO_OEDEMA_TEXT = ("no peritumoral oedema", "no surrounding oedema", "without perilesional oedema")


def _background_sentence(rng: BulkDraws, density: int, bpe: int) -> str:
    dens, level = DENSITY[density], BPE[bpe]
    return pick(
        rng,
        (
            f"{level} background parenchymal enhancement",
            f"background parenchymal enhancement is {level}",
            f"{dens} fibroglandular tissue with {level} background enhancement",
            f"BPE {level}; amount of fibroglandular tissue: {dens}",
            f"{level} BPE",
            f"the breasts contain {dens} fibroglandular tissue",
        ),
    )


def _quadrant(side: int, hour: int) -> str:
    """Breast region of a clock position; 1-5 o'clock point to the patient's left."""
    toward_left = 1 <= hour <= 5
    outer = "outer" if toward_left == (side == 1) else "inner"
    if hour in (12, 6):
        return "upper breast" if hour == 12 else "lower breast"
    if hour in (3, 9):
        return f"{outer} breast"
    upper = "upper" if hour in (10, 11, 1, 2) else "lower"
    return f"{upper} {outer} quadrant"


def _tumour_sentences(rng: BulkDraws, f: Factors, i: int) -> list[str]:
    side = SIDES[int(f["side"][i])]
    hour = int(f["clock_hour"][i])
    size = size_text(rng, float(f["size_mm"][i]))
    depth = ("posterior", "middle", "anterior")[min(int(f["depth"][i] * 3.0 / 0.8), 2)]
    clock = pick(rng, (f"{hour} o'clock", f"the {hour} o'clock position", f"{hour}:00"))
    quadrant = _quadrant(int(f["side"][i]), hour)
    out = []
    if f["non_mass"][i]:
        dist = NME_DISTRIBUTION[int(f["nme_distribution"][i])]
        out.append(
            pick(
                rng,
                (
                    f"{dist} clumped non-mass enhancement in the {side} breast at {clock} extending over {size}",
                    f"there is {dist} non-mass enhancement spanning {size} in the {quadrant} of the {side} breast",
                    f"{side} breast: {dist} heterogeneous non-mass enhancement, {size}, {clock}, {depth} depth",
                    f"non-mass enhancement with a {dist} distribution in the {side} breast ({clock}), extent {size}",
                    f"clumped NME in a {dist} distribution, {side} breast {clock}, measuring {size}",
                ),
            )
        )
    else:
        margin = MARGINS[int(f["margin"][i])]
        shape = SHAPES[int(f["shape"][i])]
        out.append(
            pick(
                rng,
                (
                    f"{margin} enhancing mass in the {side} breast at {clock} measuring {size}",
                    f"there is a {size} {shape} mass with {margin} margins at {clock} in the {side} breast",
                    f"{side} breast: {shape} enhancing mass with {margin} margins, {size}, {clock}, {depth} depth",
                    f"an avidly enhancing {shape} mass is seen in the {quadrant} of the {side} breast, measuring {size}",
                    f"{size} {margin} enhancing lesion, {side} breast, {clock}, {depth} third",
                    f"index lesion: {shape} {margin} mass in the {side} breast at {clock}, {size} in maximal diameter",
                ),
            )
        )
        if f["necrosis"][i] and rng.random() < 0.8:
            out.append(
                pick(
                    rng,
                    (
                        "rim enhancement with central necrosis",
                        "the mass shows rim enhancement",
                        "central non-enhancing necrotic component",
                    ),
                )
            )
    if rng.random() < 0.85:
        out.append(pick(rng, _KINETICS_TEXT[int(f["kinetics"][i])]))
    if f["oedema"][i]:
        out.append(pick(rng, _OEDEMA_TEXT))
    elif rng.random() < 0.35:
        out.append(pick(rng, _NO_OEDEMA_TEXT))
    status = _HER2_POS_TEXT if f["her2_status"][i] == 1.0 else _HER2_NEG_TEXT
    out.append(pick(rng, status))
    if rng.random() < 0.3:
        other = "left" if side == "right" else "right"
        out.append(
            pick(
                rng,
                (
                    f"no suspicious enhancement in the {other} breast",
                    f"the {other} breast is unremarkable",
                    f"contralateral ({other}) breast without suspicious findings",
                ),
            )
        )
    return out
