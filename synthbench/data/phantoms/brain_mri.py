"""Brain MRI phantom: an axial slice at the level of the lateral ventricles, T2-weighted or FLAIR.

Scalp, a dark bony skull rim, then the brain: grey cortex folded around CSF-filled sulci, white
matter inside, the interhemispheric fissure on the midline and the butterfly of the lateral
ventricles (CSF bright on T2, suppressed and dark on FLAIR). A tumour (glioma-like) is a mass of
heterogeneous signal with a necrotic centre when large, surrounded by bright vasogenic oedema
spreading through the white matter; its mass effect compresses the ventricle on its side and
pushes the midline away (midline shift, in mm).

Display follows the radiological convention: anterior at the top, the patient's left on the
image right.
"""

from __future__ import annotations

import re

import numpy as np

from synthbench.data.phantoms._base import Factors, ModalityInfo, PhantomModality, ReportLabels
from synthbench.data.phantoms._common import col, grid, lerp, ramp, smooth_noise
from synthbench.data.phantoms._text import (
    BulkDraws,
    asserted,
    first_size_mm,
    join_report,
    mentioned,
    pick,
    size_text,
    size_word,
)

# field of view: the image spans 2 normalised units = 200 mm
MM_PER_UNIT = 100.0
_BLOCK_PIXELS = 1 << 16
SEQUENCES = ("T2", "FLAIR")
SIDES = ("right", "left")
LOBES = ("frontal", "parietal", "temporal", "occipital")
# reports call a tumour "small" up to this size and "large" from the next (the central 20-50 mm
# of the size range is left ungraded), so prompts can ask for either
SMALL_MAX_MM = 25.0
LARGE_MIN_MM = 38.0
# tumour centre per lobe, in brain coordinates: (v: -1 anterior .. 1 posterior, |u| lateral)
_LOBE_V = ((-0.72, -0.35), (0.0, 0.4), (-0.2, 0.2), (0.45, 0.72))
_LOBE_U = ((0.12, 0.55), (0.25, 0.6), (0.5, 0.68), (0.1, 0.42))
# signal per sequence: scalp, diploe, CSF, grey matter, white matter, tumour, necrosis, oedema
_SIGNAL = np.array(
    [
        [0.62, 0.32, 0.95, 0.56, 0.3, 0.7, 0.9, 0.8],  # T2
        [0.5, 0.28, 0.07, 0.52, 0.34, 0.7, 0.3, 0.85],  # FLAIR
    ],
    dtype=np.float32,
)


class BrainMRI(PhantomModality):
    """Axial brain MRI (T2 or FLAIR): normal or tumour with oedema and mass effect."""

    info = ModalityInfo(
        name="brain_mri",
        prompt_name="Brain MRI",
        channels=1,
        classes=("normal", "tumour"),
        findings=("tumour",),
        description="axial T2/FLAIR brain MRI; glioma-like tumour with oedema and midline shift",
    )

    # ------------------------------------------------------------------------------------------
    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        n = labels.shape[0]
        d = float(difficulty)
        tumour = labels == 1
        lobe = rng.integers(0, 4, n)
        side = rng.integers(0, 2, n)
        v_lo = np.array([a for a, _ in _LOBE_V])[lobe]
        v_hi = np.array([b for _, b in _LOBE_V])[lobe]
        u_lo = np.array([a for a, _ in _LOBE_U])[lobe]
        u_hi = np.array([b for _, b in _LOBE_U])[lobe]
        size_mm = np.exp(rng.normal(np.log(30.0), 0.35, n)) * lerp(1.3, 0.7, d)
        size_mm = np.clip(np.round(size_mm), 8, 70)
        oedema = rng.random(n) < lerp(0.95, 0.6, d)
        oedema_ratio = np.where(oedema, rng.uniform(1.4, 2.4, n), 1.0)
        # mass effect grows with the volume of tumour plus oedema
        burden = size_mm * (0.6 + 0.4 * oedema_ratio)
        shift = np.clip(np.round((burden - 32.0) * 0.22 + rng.normal(0, 0.8, n)), 0, 15)
        necrosis = (size_mm >= 28) & (rng.random(n) < 0.8)
        return {
            "tumour": tumour.astype(np.int64),
            "sequence": rng.integers(0, 2, n),
            "head_rx": rng.uniform(0.7, 0.8, n),
            "head_ry": rng.uniform(0.86, 0.94, n),
            "head_x": rng.uniform(-0.04, 0.04, n),
            "head_y": rng.uniform(-0.04, 0.04, n),
            "head_angle": rng.uniform(-0.12, 0.12, n),
            "scalp_mm": rng.uniform(4.0, 8.0, n),
            "skull_mm": rng.uniform(5.0, 8.0, n),
            "atrophy": rng.beta(1.5, 4.0, n),
            "ventricle_size": rng.uniform(0.75, 1.3, n),
            "grey_white_contrast": rng.uniform(0.75, 1.25, n),
            "noise_sigma": rng.uniform(0.015, 0.045, n),
            "bias_x": rng.uniform(-0.15, 0.15, n),
            "bias_y": rng.uniform(-0.15, 0.15, n),
            "gamma": rng.uniform(0.85, 1.2, n),
            "lobe": np.where(tumour, lobe, -1),
            "side": np.where(tumour, side, -1),
            "tumour_u": rng.uniform(u_lo, u_hi) * np.where(side == 1, 1.0, -1.0),
            "tumour_v": rng.uniform(v_lo, v_hi),
            "size_mm": np.where(tumour, size_mm, 0.0),
            "tumour_contrast": rng.uniform(0.75, 1.25, n) * lerp(1.4, 0.45, d),
            "heterogeneity": rng.uniform(0.05, 0.2, n),
            "necrosis": (tumour & necrosis).astype(np.int64),
            "oedema": (tumour & oedema).astype(np.int64),
            "oedema_ratio": np.where(tumour, oedema_ratio, 1.0),
            "midline_shift_mm": np.where(tumour, shift, 0.0),
        }

    # ------------------------------------------------------------------------------------------
    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        n = factors["tumour"].shape[0]
        # blocks of patients small enough for the CPU cache: far faster than one huge batch
        step = max(1, _BLOCK_PIXELS // (size * size))
        out = np.empty((n, 1, size, size), dtype=np.float32)
        for start in range(0, n, step):
            block = {k: v[start : start + step] for k, v in factors.items()}
            out[start : start + step, 0] = self._render_block(block, size, rng)
        return out

    def _render_block(self, f: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        n = f["tumour"].shape[0]
        y, x = grid(size)
        px = 2.0 / size
        signal = _SIGNAL[f["sequence"]]  # (n, 8)
        scalp_s, diploe_s, csf_s, grey_s, white_s, tumour_s, necrosis_s, oedema_s = (
            col(signal[:, k]) for k in range(8)
        )
        gw = col(f["grey_white_contrast"])
        mid_gw = 0.5 * (grey_s + white_s)
        grey_s, white_s = mid_gw + gw * (grey_s - mid_gw), mid_gw + gw * (white_s - mid_gw)

        # head frame: rotated, shifted coordinates; ``a`` across (x), ``b`` along (y)
        angle = f["head_angle"]
        cos, sin = col(np.cos(angle)), col(np.sin(angle))
        xs, ys = x - col(f["head_x"]), y - col(f["head_y"])
        a = cos * xs + sin * ys
        b = cos * ys - sin * xs
        rx, ry = col(f["head_rx"]), col(f["head_ry"])
        head_r = np.sqrt((a / rx) ** 2 + (b / ry) ** 2)  # 1 on the skin
        scalp = col(f["scalp_mm"] / MM_PER_UNIT) / rx
        skull = col(f["skull_mm"] / MM_PER_UNIT) / rx
        inner = 1.0 - scalp - skull  # inner table of the skull, in head_r units
        soft = px / rx

        # brain coordinates: u across, v along, rho = 1 at the brain surface
        u, v = a / (rx * inner), b / (ry * inner)
        rho = head_r / inner
        depth = 1.0 - rho

        # midline, pushed away from the tumour side by the midline shift (most under the falx)
        shift = col(f["midline_shift_mm"] / MM_PER_UNIT) / (rx * inner)
        away = col(np.where(f["side"] == 1, -1.0, 1.0))
        midline = away * shift * np.exp(-2.5 * v * v)
        um = u - midline

        # cortex: sulci are the zero lines of a smooth field, lined by a grey-matter ribbon
        field = smooth_noise(rng, n, size, 0.022)
        np.abs(field, out=field)
        atrophy = col(f["atrophy"])
        sulcus_w = 0.12 + 0.18 * atrophy
        fold = 0.22
        sulcus = ramp(field, sulcus_w, 0.06) * ramp(depth, fold, 0.04)
        surface_csf = ramp(depth, 0.015 + 0.03 * atrophy, soft)
        ribbon = 0.09
        grey = np.maximum(
            ramp(depth, ribbon, 0.02),
            ramp(field, sulcus_w + 0.5, 0.1) * ramp(depth, fold + ribbon, 0.04),
        )
        fissure = ramp(np.abs(um), 0.012 + 0.012 * atrophy, soft * 0.5) * ramp(
            -np.abs(v), -0.45, 0.1
        )
        csf = np.maximum(np.maximum(sulcus, surface_csf), fissure)
        img = white_s + grey * (grey_s - white_s)

        # lateral ventricles: two bananas bowing outward, frontal horns diverging (butterfly)
        vs = col(f["ventricle_size"]) * (1.0 + 0.5 * atrophy)
        tumour_sign = col(np.where(f["tumour"] > 0, np.where(f["side"] == 1, 1.0, -1.0), 0.0))
        compress = col(1.0 - 0.5 * np.minimum(f["midline_shift_mm"] / 10.0, 1.0))
        vent = None
        for sign in (-1.0, 1.0):
            squeeze = np.where(tumour_sign == sign, compress, 1.0)
            vy = (v + 0.05) / (0.36 * vs)
            centre = sign * (0.045 + 0.1 * vy * vy) * vs
            # bulbous frontal horns in front, narrow bodies at the waist, broad atria behind
            half_w = (
                vs
                * squeeze
                * (0.028 + 0.05 * np.clip(-vy, 0.0, 1.0) + 0.03 * np.clip(vy, 0.0, 1.0))
            )
            r2 = vy * vy + ((um - centre) / half_w) ** 2
            vent = r2 if vent is None else np.minimum(vent, r2)
        ventricles = ramp(vent, 1.0, 0.25)
        csf = np.maximum(csf, ventricles)

        # tumour: heterogeneous mass, necrotic centre, oedema through the white matter
        if f["tumour"].any():
            radius = col(np.maximum(f["size_mm"], 1.0) / 2.0 / MM_PER_UNIT) / (rx * inner)
            du = u - col(f["tumour_u"])
            dv = (v - col(f["tumour_v"])) * (ry / rx)
            d2 = (du * du + dv * dv) / (radius * radius)
            texture = smooth_noise(rng, n, size, 0.05)
            d2 *= 1.0 + 0.25 * texture
            present = col(f["tumour"]) * ramp(rho, 0.97, 0.02)
            mass = ramp(d2, 1.0, soft / radius) * present
            ratio2 = col(f["oedema_ratio"] ** 2)
            oedema = ramp(d2, ratio2 * (1.0 + 0.3 * texture), 0.5 * ratio2) * present
            oedema *= col(f["oedema"]) * (1.0 - 0.6 * grey)
            contrast = col(f["tumour_contrast"])
            tissue = img + contrast * (tumour_s - img) * (1.0 + col(f["heterogeneity"]) * texture)
            necrotic = ramp(d2, 0.25, 0.1) * col(f["necrosis"])
            tissue += necrotic * (necrosis_s - tissue) * np.minimum(contrast, 1.0)
            img += oedema * np.minimum(contrast, 1.0) * (oedema_s - img)
            img += mass * (tissue - img)
            # the tumour displaces CSF spaces: sulci and ventricle close up around it
            csf *= 1.0 - np.maximum(mass, 0.7 * oedema)
        img += csf * (csf_s - img)

        # head layers outside the brain: CSF rim, skull (dark cortical bone, diploe), scalp
        brain = ramp(rho, 1.0, soft / inner)
        img = img * brain + (1.0 - brain) * csf_s * 0.3
        bone = ramp(head_r, 1.0 - scalp, soft) - ramp(head_r, inner, soft)
        diploe = ramp(np.abs(head_r - (inner + 0.5 * skull)), 0.18 * skull, soft)
        img += bone * (0.04 + diploe * diploe_s - img)
        skin = ramp(head_r, 1.0, soft) - ramp(head_r, 1.0 - scalp, soft)
        img += skin * (scalp_s - img)
        img *= ramp(head_r, 1.0, soft)

        # coil sensitivity, contrast, noise (magnitude image: Rician-like floor)
        img *= 1.0 + col(f["bias_x"]) * x + col(f["bias_y"]) * y
        np.clip(img, 0.0, 1.0, out=img)
        img **= col(f["gamma"])
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        noise *= col(f["noise_sigma"])
        img += noise
        np.abs(img, out=img)
        return np.minimum(img, 1.0, out=img)

    # ------------------------------------------------------------------------------------------
    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        f = factors
        rng = BulkDraws(rng, 24 * f["tumour"].shape[0])  # type: ignore[assignment]
        out = []
        for i in range(f["tumour"].shape[0]):
            seq = SEQUENCES[int(f["sequence"][i])]
            sentences = [pick(rng, _SEQUENCE_TEXT[seq])]
            if f["tumour"][i]:
                sentences += _tumour_sentences(rng, f, i, seq)
            else:
                sentences += _normal_sentences(rng)
            out.append(join_report(self.info.prompt_name, sentences, rng))
        return out

    # ------------------------------------------------------------------------------------------
    def label_report(self, text: str) -> ReportLabels:
        found = {"tumour"} if asserted(text, _TUMOUR_RX) else set()
        measurements: dict[str, float] = {}
        shift = _SHIFT_RX.search(text)
        remainder = text
        if shift:
            value = float(shift.group("a") or shift.group("b"))
            unit = (shift.group("ua") or shift.group("ub")).lower()
            measurements["midline_shift_mm"] = value * 10.0 if unit == "cm" else value
            remainder = text[: shift.start()] + text[shift.end() :]
        elif mentioned(text, _NO_SHIFT_RX):
            measurements["midline_shift_mm"] = 0.0
        if found:
            mm = first_size_mm(remainder)
            if mm is not None:
                measurements["size_mm"] = mm
        return ReportLabels(
            modality=self.info.name, findings=frozenset(found), measurements=measurements
        )


# --- report text ------------------------------------------------------------------------------

_TUMOUR_RX = re.compile(
    r"\bmass\b|\btumou?r\b|\bneoplasm|\bglioma|\bglioblastoma|\bGBM\b|\bastrocytoma"
    r"|\bspace[\s-]occupying\b|\blesion\b|\bmetastas[ie]s\b|\bmass effect\b",
    re.IGNORECASE,
)
_SHIFT_RX = re.compile(
    r"(?P<a>\d+(?:\.\d+)?)\s*(?P<ua>mm|cm)\b[^.;\d]{0,30}?\bshift"
    r"|\bshift\b[^.;\d]{0,30}?(?P<b>\d+(?:\.\d+)?)\s*(?P<ub>mm|cm)\b",
    re.IGNORECASE,
)
_NO_SHIFT_RX = re.compile(
    r"\bno\s+(?:\w+\s+){0,2}midline shift|without\s+(?:\w+\s+){0,2}midline shift"
    r"|midline (?:structures )?(?:is|are) (?:central|midline|not displaced)",
    re.IGNORECASE,
)
_SEQUENCE_TEXT = {
    "T2": (
        "axial T2-weighted image",
        "sequence: T2",
        "single axial T2 slice",
        "T2-weighted axial MRI",
    ),
    "FLAIR": (
        "axial FLAIR image",
        "sequence: FLAIR",
        "single axial FLAIR slice",
        "T2-FLAIR axial MRI",
    ),
}
_NORMAL_CORE = (
    "no intracranial mass",
    "no mass lesion, haemorrhage or infarct",
    "no evidence of intracranial neoplasm",
    "unremarkable appearance of the brain parenchyma with no focal abnormality",
    "normal study; no space-occupying lesion",
    "the brain is normal in appearance, without mass or abnormal signal",
    "no focal signal abnormality or mass",
)
_NORMAL_EXTRA = (
    "ventricles normal in size",
    "the ventricles and sulci are normal for age",
    "normal grey-white matter differentiation",
    "midline structures are central",
    "no midline shift",
    "no abnormal signal in the white matter",
    "no mass effect",
    "the lateral ventricles are symmetric",
)


def _normal_sentences(rng: BulkDraws) -> list[str]:
    out = [pick(rng, _NORMAL_CORE)]
    k = int(rng.integers(0, 3))
    for j in rng.permutation(len(_NORMAL_EXTRA))[:k]:
        out.append(_NORMAL_EXTRA[j])
    return out


def _tumour_sentences(rng: BulkDraws, f: Factors, i: int, seq: str) -> list[str]:
    side = SIDES[int(f["side"][i])]
    other = SIDES[1 - int(f["side"][i])]
    lobe = LOBES[int(f["lobe"][i])]
    size = size_text(rng, float(f["size_mm"][i]))
    adj = size_word(rng, float(f["size_mm"][i]), small_max=SMALL_MAX_MM, large_min=LARGE_MIN_MM)
    het = pick(rng, ("heterogeneous", "heterogeneously hyperintense", "infiltrative", "expansile"))
    out = [
        pick(
            rng,
            (
                f"{adj}{het} intra-axial mass in the {side} {lobe} lobe measuring {size}",
                f"there is a {adj}{size} {het} mass centred in the {side} {lobe} lobe",
                f"{side} {lobe} lobe: {adj}space-occupying lesion with heterogeneous {seq} signal, {size}",
                f"a {adj}{size} intra-axial tumour is seen in the {lobe} lobe on the {side}",
                f"{adj}{side}-sided {lobe} mass, {size} in maximal diameter, in keeping with a high-grade glioma",
                f"{adj}intra-axial {lobe} lobe lesion on the {side}, measuring {size}, likely glioma",
            ),
        )
    ]
    if f["necrosis"][i] and rng.random() < 0.85:
        out.append(
            pick(
                rng,
                (
                    "central necrosis",
                    "the mass has a necrotic centre",
                    "central necrotic component",
                    "internal necrosis is present",
                ),
            )
        )
    if f["oedema"][i]:
        out.append(
            pick(
                rng,
                (
                    "surrounding vasogenic oedema",
                    "extensive perilesional oedema",
                    "peritumoral oedema tracking through the white matter",
                    "surrounding vasogenic edema",
                    f"surrounding {seq} hyperintensity in keeping with oedema",
                ),
            )
        )
    elif rng.random() < 0.5:
        out.append(
            pick(rng, ("no significant surrounding oedema", "little or no perilesional oedema"))
        )
    shift = int(f["midline_shift_mm"][i])
    if shift > 0:
        out.append(
            pick(
                rng,
                (
                    f"midline shift of {shift} mm to the {other}",
                    f"{shift} mm of midline shift to the {other}",
                    f"mass effect with {shift} mm midline shift",
                    f"subfalcine herniation with {shift} mm shift to the {other}",
                    f"the midline is displaced {shift} mm to the {other} (midline shift)",
                ),
            )
        )
        if rng.random() < 0.6:
            out.append(
                pick(
                    rng,
                    (
                        f"effacement of the {side} lateral ventricle",
                        "compression of the ipsilateral ventricle",
                        f"the {side} lateral ventricle is compressed",
                    ),
                )
            )
    else:
        out.append(
            pick(
                rng,
                (
                    "no midline shift",
                    "midline structures are central",
                    "no significant midline shift",
                ),
            )
        )
    return out
