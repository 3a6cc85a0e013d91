"""Chest CT phantom: an axial slice in lung window, with or without a lung nodule.

Black air around an oval body (subcutaneous fat, chest wall, rib arcs); two dark lungs holding
bright vessel dots and branching lines; mediastinum and heart in the centre front, the descending
aorta beside a bright vertebral body at the back. Nodules are solid, part-solid or ground-glass,
with smooth, lobulated or spiculated margins, sometimes with air bronchograms or pleural
retraction. For nodule patients the EGFR mutation status is a latent biomarker: mutant nodules are
more often ground-glass, smaller, with air bronchograms and pleural retraction, a real but modest
association, and mutant patients progress later on targeted therapy (hazard ratio 0.5).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from synthbench.data.phantoms._base import Factors, ModalityInfo, PhantomModality, ReportLabels
from synthbench.data.phantoms._common import grid, lerp, smooth_noise, smoothstep
from synthbench.data.phantoms._text import (
    affirms,
    clauses,
    first_size_mm,
    join_report,
    size_text,
)

LOBES = (
    "right upper lobe",
    "right middle lobe",
    "right lower lobe",
    "left upper lobe",
    "left lower lobe",
)
LOBE_ABBREVIATIONS = ("RUL", "RML", "RLL", "LUL", "LLL")
# nodule placement inside its lung, in coordinates relative to the lung ellipse
# (u: -1 image-left edge .. 1 image-right edge, v: -1 front .. 1 back): (v_lo, v_hi, u_lo, u_hi)
_LOBE_BOX = np.array(
    [
        [-0.75, -0.15, -0.65, 0.0],  # RUL: anterior, lateral
        [-0.60, -0.05, 0.05, 0.55],  # RML: anterior, medial
        [0.10, 0.70, -0.60, 0.45],  # RLL: posterior
        [-0.70, 0.00, -0.05, 0.65],  # LUL: anterior
        [0.10, 0.70, -0.45, 0.60],  # LLL: posterior
    ],
    dtype=np.float32,
)
# lung ellipses in body-relative coordinates: centre u, centre v, half-width, half-height
_LUNG_RIGHT = (-0.45, -0.03, 0.40, 0.84)  # the patient's right lung is on the image's left
_LUNG_LEFT = (0.47, -0.01, 0.38, 0.84)
# nodules are drawn larger than the body scale would give (about 1.6x), so that a 1 cm nodule
# stays visible on a 32 px slice
_MM_PER_UNIT = 125.0
SOLID, PART_SOLID, GROUND_GLASS = 0, 1, 2
SMOOTH, LOBULATED, SPICULATED = 0, 1, 2


class ChestCT(PhantomModality):
    """Axial chest CT slice (lung window), nodule vs no nodule, EGFR status for nodules."""

    info = ModalityInfo(
        name="chest_ct",
        prompt_name="Chest CT",
        channels=1,
        findings=("nodule",),
        classes=("no_nodule", "nodule"),
        biomarker="egfr_mutant",
        biomarker_values=("EGFR wild type", "EGFR mutant"),
        true_hazard_ratio=0.5,
        description="axial chest CT slice in lung window; lung nodule with EGFR status",
    )

    # ------------------------------------------------------------------ factors
    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        n = labels.shape[0]
        present = np.asarray(labels) == 1
        u = rng.random((n, 24))  # one column per random draw, so factors are independent
        f: Factors = {}

        # anatomy and acquisition
        f["body_rx"] = lerp(0.78, 0.92, u[:, 0])
        f["body_ry"] = f["body_rx"] * lerp(0.62, 0.76, u[:, 1])
        f["body_cx"] = rng.normal(0.0, 0.025, n)
        f["body_cy"] = rng.normal(0.0, 0.03, n)
        variant = rng.integers(0, N_VARIANTS, n)
        fat, lung, heart, _ = variant_levels(variant)
        f["anatomy_variant"] = variant
        f["fat_thickness"] = np.asarray(FAT_LEVELS)[fat]
        f["lung_scale"] = np.asarray(LUNG_LEVELS)[lung]
        f["heart_size"] = np.asarray(HEART_LEVELS)[heart]
        f["vessel_density"] = lerp(0.6, 1.1, u[:, 6])
        f["noise_sigma"] = lerp(0.015, 0.045, u[:, 7]) * lerp(0.7, 1.5, difficulty)
        f["window_contrast"] = lerp(0.85, 1.15, u[:, 8])
        f["window_level"] = lerp(-0.05, 0.05, u[:, 9])

        # nodule and EGFR status (EGFR applies to nodule patients only)
        mutant = present & (u[:, 10] < 0.5)
        f["nodule"] = present
        f["egfr_mutant"] = np.where(present, mutant.astype(np.float64), np.nan)
        median_mm = np.where(mutant, 13.0, 18.0) * lerp(1.15, 0.85, difficulty)
        size = median_mm * np.exp(0.32 * rng.standard_normal(n))
        f["nodule_size_mm"] = np.where(present, np.clip(np.round(size), 6.0, 29.0), 0.0)
        gg_share = np.where(mutant, rng.beta(2.6, 2.2, n), rng.beta(1.2, 3.0, n))
        f["ground_glass_share"] = np.where(present, np.round(gg_share, 2), 0.0)
        kind = np.where(gg_share < 0.25, SOLID, np.where(gg_share > 0.8, GROUND_GLASS, PART_SOLID))
        f["nodule_type"] = np.where(present, kind, -1)
        margin_p = np.where(mutant, 0.45, 0.3)  # chance of spiculation
        margin = np.where(
            u[:, 11] < margin_p, SPICULATED, np.where(u[:, 12] < 0.45, LOBULATED, SMOOTH)
        )
        f["margin"] = np.where(present, margin, -1)
        f["air_bronchogram"] = present & (u[:, 13] < np.where(mutant, 0.5, 0.15)) & (kind != SOLID)
        f["pleural_retraction"] = present & (u[:, 14] < np.where(mutant, 0.5, 0.18))
        lobe = rng.choice(5, n, p=[0.28, 0.08, 0.22, 0.24, 0.18])
        f["lobe"] = np.where(present, lobe, -1)
        box = _LOBE_BOX[lobe]
        v_rel = lerp(box[:, 0], box[:, 1], u[:, 15])
        u_rel = lerp(box[:, 2], box[:, 3], u[:, 16])
        # nodules with pleural retraction lie near the pleura
        radius = np.maximum(np.hypot(u_rel, v_rel), 1e-6)
        target = np.where(
            f["pleural_retraction"], lerp(0.55, 0.75, u[:, 2]), np.minimum(radius, 0.7)
        )
        u_rel, v_rel = u_rel * target / radius, v_rel * target / radius
        f["nodule_u"] = np.where(present, u_rel, 0.0)  # position within the lung ellipse
        f["nodule_v"] = np.where(present, v_rel, 0.0)
        # solid attenuation above lung, in display units; subtler with difficulty
        f["nodule_contrast"] = np.where(
            present, lerp(0.85, 0.35, difficulty) * lerp(0.8, 1.2, u[:, 17]), 0.0
        )
        f["lobulation_phase"] = u[:, 18] * 2.0 * np.pi
        f["spicule_phase"] = u[:, 19] * 2.0 * np.pi
        f["bronchogram_angle"] = u[:, 20] * np.pi
        return f

    views = ("full", "nodule")

    def render_view(
        self, factors: Factors, size: int, rng: np.random.Generator, view: str
    ) -> np.ndarray:
        """``"nodule"``: the slice rendered at ``ROI_ZOOM`` times the resolution, cropped to a
        ``size`` window centred on the nodule (a lung spot drawn like a nodule's position for
        patients without one), as nodule-level models see a CT. At 32 px a pixel is ~2 mm."""
        if view != "nodule":
            return super().render_view(factors, size, rng, view)
        n = len(factors["body_rx"])
        big = size * ROI_ZOOM
        full = self.render(factors, big, rng)
        cx, cy = _roi_centres(factors, rng)
        x0 = np.clip(np.round((cx + 1.0) * big / 2.0 - size / 2.0), 0, big - size).astype(np.intp)
        y0 = np.clip(np.round((cy + 1.0) * big / 2.0 - size / 2.0), 0, big - size).astype(np.intp)
        out = np.empty((n, 1, size, size), dtype=full.dtype)
        for i in range(n):
            out[i] = full[i, :, y0[i] : y0[i] + size, x0[i] : x0[i] + size]
        return out

    def biomarker_status(self, factors: Factors) -> np.ndarray:
        return np.asarray(factors["egfr_mutant"], dtype=np.float64)

    # ------------------------------------------------------------------ image
    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        f = factors
        n = len(f["body_rx"])
        y, x = grid(size)

        def c(key: str) -> np.ndarray:
            return np.asarray(f[key], dtype=np.float32)[:, None, None]

        # anatomy: the patient's template, scaled and shifted into place (nearest neighbour)
        tissue_bank, lung_bank, line_bank = _template_bank(size)
        _, rows, cols = tissue_bank.shape
        u = (x[:, :1, :] - c("body_cx")) / c("body_rx")  # (n, 1, W): u depends on x only
        v = (y[:, :, :1] - c("body_cy")) / c("body_ry")  # (n, H, 1)
        iu = np.clip((u + _TEMPLATE_U) * (cols / (2 * _TEMPLATE_U)), 0, cols - 1).astype(np.intp)
        iv = np.clip((v - _TEMPLATE_V[0]) * (rows / np.ptp(_TEMPLATE_V)), 0, rows - 1)
        variant = np.asarray(f["anatomy_variant"], dtype=np.intp)[:, None, None]
        flat = (variant * rows + iv.astype(np.intp)) * cols + iu
        tissue = tissue_bank.reshape(-1).take(flat).astype(np.float32, copy=False)
        lungs = lung_bank.reshape(-1).take(flat).astype(np.float32, copy=False)
        lines = line_bank.reshape(-1).take(flat).astype(np.float32, copy=False)

        # lung vessels: the template's branching lines and end-on dots, broken up per patient
        texture = _noise(rng, n, size)
        vessels = lines * smoothstep(-0.7, 0.3, texture)
        img = tissue + lungs * (0.06 + vessels * c("vessel_density"))

        present = np.flatnonzero(np.asarray(f["nodule"], dtype=bool))
        if present.size:
            _add_nodules(img, lungs, f, present, size)

        img += rng.standard_normal(img.shape, dtype=np.float32) * c("noise_sigma")
        img -= 0.45 - c("window_level")
        img *= c("window_contrast")
        img += 0.45
        return np.clip(img, 0.0, 1.0)[:, None]

    # ------------------------------------------------------------------ reports
    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        f = factors
        n = len(f["nodule"])
        u = rng.random((n, 16))
        reports = []
        for i in range(n):
            sentences: list[str] = []
            w = u[i]
            if f["nodule"][i]:
                sentences += _nodule_sentences(f, i, w, rng)
                extras = _NODULE_CONTEXT
            else:
                sentences.append(_choice(_NO_NODULE, w[0]))
                if w[1] < 0.4:
                    sentences.append(_choice(_CLEAR_LUNGS, w[2]))
                extras = _BACKGROUND
            k = int(w[3] * 3)  # 0-2 background statements
            for j in range(k):
                sentence = _choice(extras, w[4 + j])
                if sentence not in sentences:
                    sentences.append(sentence)
            reports.append(join_report(self.info.prompt_name, sentences, rng))
        return reports

    # ------------------------------------------------------------------ labeller
    def label_report(self, text: str) -> ReportLabels:
        findings: set[str] = set()
        measurements: dict[str, float] = {}
        nodule_clauses = [cl for cl in clauses(text) if affirms(cl, _NODULE_RX)]
        if nodule_clauses:
            findings.add("nodule")
            size = next(
                (mm for mm in (first_size_mm(cl) for cl in nodule_clauses) if mm is not None),
                None,
            )
            if size is None:
                size = first_size_mm(text)
            if size is not None:
                measurements["size_mm"] = size
        return ReportLabels(
            modality=self.info.name, findings=frozenset(findings), measurements=measurements
        )


# ---------------------------------------------------------------------- anatomy templates
# The anatomy of a slice depends on a few shape factors, each taking one of a few levels; every
# combination is rendered once per image size in body-relative coordinates (u across, v front
# to back) and patients sample their template through their own scale and shift.
FAT_LEVELS = (0.04, 0.07, 0.10)
LUNG_LEVELS = (0.88, 0.97)
HEART_LEVELS = (0.85, 1.0, 1.15)
N_VESSEL_PATTERNS = 2
N_VARIANTS = len(FAT_LEVELS) * len(LUNG_LEVELS) * len(HEART_LEVELS) * N_VESSEL_PATTERNS
_TEMPLATE_U = 1.2  # template covers u in [-1.2, 1.2]
_TEMPLATE_V = (-1.1, 1.3)  # and v in [-1.1, 1.3] (the table lies below the body)


def variant_levels(variant: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Level indices (fat, lung, heart, vessel pattern) of anatomy variants."""
    variant = np.asarray(variant)
    vessel = variant % N_VESSEL_PATTERNS
    rest = variant // N_VESSEL_PATTERNS
    heart = rest % len(HEART_LEVELS)
    rest = rest // len(HEART_LEVELS)
    lung = rest % len(LUNG_LEVELS)
    fat = rest // len(LUNG_LEVELS)
    return fat, lung, heart, vessel


@cache
def _template_bank(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per variant (variants, rows, cols): tissue outside the lungs, lung mask, vessel lines."""
    cols = int(np.ceil(2.2 * size))
    rows = int(np.ceil(1.7 * size))
    u = np.linspace(-_TEMPLATE_U, _TEMPLATE_U, cols, dtype=np.float32)[None, None, :]
    v = np.linspace(*_TEMPLATE_V, rows, dtype=np.float32)[None, :, None]
    fat_i, lung_i, heart_i, vessel_i = variant_levels(np.arange(N_VARIANTS))
    dtype = np.float32 if size <= 128 else np.float16  # keeps the cache small at large sizes
    bank = tuple(np.empty((N_VARIANTS, rows, cols), dtype=dtype) for _ in range(3))
    for start in range(0, N_VARIANTS, 6):
        part = slice(start, start + 6)

        def level(levels: tuple[float, ...], index: np.ndarray, part: slice = part) -> np.ndarray:
            return np.asarray(levels, np.float32)[index[part]][:, None, None]

        layers = _anatomy(
            u,
            v,
            level(FAT_LEVELS, fat_i),
            level(LUNG_LEVELS, lung_i),
            level(HEART_LEVELS, heart_i),
            vessel_i[part],
            step=1.4 / size,
        )
        for target, layer in zip(bank, layers, strict=True):
            target[part] = layer
    return bank


_N_NOISE_FIELDS = 64


@cache
def _noise_bank(size: int) -> np.ndarray:
    """A fixed set of periodic smooth noise fields, (fields, size, size)."""
    return smooth_noise(np.random.default_rng(11), _N_NOISE_FIELDS, size, 0.03)


def _noise(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Smooth noise per patient: a bank field, randomly shifted (periodically) and flipped."""
    bank = _noise_bank(size)
    field = rng.integers(0, _N_NOISE_FIELDS, n)[:, None, None]
    shift = rng.integers(0, size, (2, n))
    flip = rng.random((2, n)) < 0.5
    idx = np.arange(size)
    r = (np.where(flip[0][:, None], idx[::-1], idx) + shift[0][:, None]) % size
    c = (np.where(flip[1][:, None], idx[::-1], idx) + shift[1][:, None]) % size
    return bank[field, r[:, :, None], c[:, None, :]]


def _anatomy(
    u: np.ndarray,
    v: np.ndarray,
    fat: np.ndarray,
    lung_scale: np.ndarray,
    heart_size: np.ndarray,
    pattern: np.ndarray,
    step: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue (outside the lungs), lung mask and vessel lines of templates, in body units."""
    k = fat.shape[0]
    rb = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    body = smoothstep(1.0 + step, 1.0 - step, rb)
    wall_r = 1.0 - fat
    wall = smoothstep(wall_r + step, wall_r - step, rb)
    tissue = body * 0.58 + wall * 0.16  # subcutaneous fat, then the brighter chest-wall muscle
    table = smoothstep(0.04, 0.015, np.abs(v - 1.17 - 0.08 * u * u)) * (np.abs(u) < 0.95)
    tissue = tissue + 0.3 * table
    # ribs: bright arcs inside the chest wall, absent at the sternum and spine
    rib_ring = smoothstep(wall_r - 0.12, wall_r - 0.09, rb) * smoothstep(
        wall_r - 0.02, wall_r - 0.05, rb
    )
    phase = np.asarray(pattern, np.float32)[:, None, None] * 0.3
    rib_arc = smoothstep(0.4, 0.75, np.cos(10.0 * theta + phase))
    rib_arc *= smoothstep(0.12, 0.2, np.abs(u))
    tissue = tissue + 0.25 * rib_ring * rib_arc

    # lungs, cut by the mediastinum (heart, aorta, oesophagus) and the spine
    lungs = np.maximum(
        _ellipse(u, v, _LUNG_RIGHT, lung_scale, step), _ellipse(u, v, _LUNG_LEFT, lung_scale, step)
    )
    lungs = lungs * smoothstep(wall_r - 0.08, wall_r - 0.12, rb)
    heart = _blob(u - 0.1, v + 0.12, 0.24 * heart_size, 0.36 * heart_size, step)
    medi = np.maximum(heart, _blob(u - 0.14, v - 0.42, 0.09, 0.14, step))  # descending aorta
    medi = np.maximum(medi, _blob(u - 0.02, v + 0.5, 0.1, 0.3, step))  # anterior mediastinum
    medi = np.maximum(medi, _blob(u, v - 0.3, 0.12, 0.3, step))  # oesophagus, azygos region
    spine = _blob(u, v - 0.66, 0.1, 0.16, step)
    canal = _blob(u, v - 0.88, 0.04, 0.07, step)
    arch = _blob(u, v - 0.9, 0.11, 0.14, step) * (1.0 - canal)
    process = _blob(u, v - 1.02, 0.025, 0.1, step)
    bone = np.maximum(np.maximum(spine, arch), process)
    lungs = lungs * (1.0 - medi) * (1.0 - bone)
    tissue = tissue + 0.05 * medi * wall + 0.22 * bone - 0.06 * canal

    # vessels: branching lines radiating from each hilum, thicker centrally
    wiggle = smooth_noise(np.random.default_rng(7), k, u.shape[-1], 0.03)[:, : v.shape[1], :]
    hu, hv = np.abs(u) - 0.06, v + 0.05
    hilar_dist = np.sqrt(hu * hu + hv * hv)
    spokes = np.cos(11.0 * np.arctan2(hv, hu) + 2.2 * wiggle + 1.7 * phase)
    threshold = 0.84 + 0.13 * np.minimum(hilar_dist, 1.0)
    lines = 0.5 * smoothstep(threshold, threshold + 0.03, spokes) * smoothstep(1.0, 0.4, hilar_dist)
    lines = np.maximum(lines, _vessel_dots(u, v, np.asarray(pattern), step))
    return tissue * (1.0 - lungs), lungs, lines * lungs


_DOT_CELL = 0.12  # one candidate end-on vessel per lattice cell (body units)


@cache
def _dot_table() -> np.ndarray:
    """Per vessel pattern and lattice cell: jitter across, jitter down, presence (all in [0, 1))."""
    cells_u = int(np.ceil(2 * _TEMPLATE_U / _DOT_CELL)) + 1
    cells_v = int(np.ceil(np.ptp(_TEMPLATE_V) / _DOT_CELL)) + 1
    rng = np.random.default_rng(17)
    return rng.random((N_VESSEL_PATTERNS, cells_v, cells_u, 3)).astype(np.float32)


def _vessel_dots(u: np.ndarray, v: np.ndarray, pattern: np.ndarray, step: float) -> np.ndarray:
    """Vessels seen end-on: small dots on a jittered lattice, thinner toward the periphery.

    A dot narrower than a pixel keeps its integrated brightness spread over one pixel (partial
    volume), so peripheral vessels fade to faint specks on small images instead of vanishing.
    """
    patterns, which = np.unique(pattern, return_inverse=True)  # draw each pattern once
    table = _dot_table()[patterns]
    iu = np.floor((u + _TEMPLATE_U) / _DOT_CELL).astype(np.intp)
    iv = np.floor((v - _TEMPLATE_V[0]) / _DOT_CELL).astype(np.intp)
    cell = table[:, iv[0], iu[0]]  # (patterns, rows, cols, 3)
    cu = (iu + 0.25 + 0.5 * cell[..., 0]) * _DOT_CELL - _TEMPLATE_U
    cv = (iv + 0.25 + 0.5 * cell[..., 1]) * _DOT_CELL + _TEMPLATE_V[0]
    hilar = np.hypot(np.abs(cu) - 0.06, cv + 0.05)
    radius = lerp(0.045, 0.012, np.clip(hilar / 0.85, 0.0, 1.0))
    pixel = 1.6 * step  # about one image pixel in body units
    drawn = np.maximum(radius, 0.55 * pixel)
    weight = (radius / drawn) ** 2 * (cell[..., 2] < 0.6)
    d = np.hypot(u - cu, v - cv)
    dots = 0.55 * weight * smoothstep(drawn + 0.5 * step, drawn - 0.5 * step, d)
    return dots[which.reshape(-1)]


def _nodule_geometry(f: Factors, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Image-space centre and the vector to the nearest pleura of the nodules of ``idx``."""

    def g(key: str) -> np.ndarray:
        return np.asarray(f[key], dtype=np.float32)[idx]

    lung = (g("lobe") > 2.5).astype(np.intp)  # lobes 0-2 are in the right lung
    lu, lv, lru, lrv = np.array([_LUNG_RIGHT, _LUNG_LEFT], dtype=np.float32)[lung].T
    s = g("lung_scale")
    brx, bry = g("body_rx"), g("body_ry")
    nu, nv = g("nodule_u"), g("nodule_v")
    cx = g("body_cx") + brx * (lu + lru * s * nu)
    cy = g("body_cy") + bry * (lv + lrv * s * nv)
    norm = np.sqrt(nu * nu + nv * nv) + 1e-6
    px = brx * lru * s * (nu / norm) * (1.0 - norm)  # from the nodule centre to the pleura
    py = bry * lrv * s * (nv / norm) * (1.0 - norm)
    return cx, cy, px, py


ROI_ZOOM = 4


def _roi_centres(f: Factors, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Image-space centres of the nodule view: each nodule's centre, and for patients without
    one a lung position drawn the way nodule positions are."""
    n = len(f["body_rx"])
    present = np.asarray(f["nodule"], dtype=bool)
    g = {k: np.array(f[k], dtype=np.float64) for k in ("lobe", "nodule_u", "nodule_v")}
    absent = np.flatnonzero(~present)
    lobe = rng.choice(5, n, p=[0.28, 0.08, 0.22, 0.24, 0.18])
    u = rng.random((n, 2))
    box = _LOBE_BOX[lobe]
    g["lobe"][absent] = lobe[absent]
    g["nodule_v"][absent] = lerp(box[absent, 0], box[absent, 1], u[absent, 0])
    g["nodule_u"][absent] = lerp(box[absent, 2], box[absent, 3], u[absent, 1])
    spots = {**f, **g}
    cx, cy, _, _ = _nodule_geometry(spots, np.arange(n))
    return cx, cy


_PATCH_HALF = 0.34  # nodules (with spicules and pleural tags) fit in a window this half-wide


def _add_nodules(
    img: np.ndarray, lungs: np.ndarray, f: Factors, idx: np.ndarray, size: int
) -> None:
    """Add the nodules of patients ``idx`` to ``img`` in place, within a window around each."""
    patch = min(size, int(np.ceil(_PATCH_HALF * size)) + 2)
    cx, cy, px, py = _nodule_geometry(f, idx)
    ox = np.clip(np.round((cx + 1.0) * size / 2.0 - patch / 2.0), 0, size - patch).astype(np.intp)
    oy = np.clip(np.round((cy + 1.0) * size / 2.0 - patch / 2.0), 0, size - patch).astype(np.intp)
    offsets = np.arange(patch)
    rows = (oy[:, None] + offsets)[:, :, None]  # (k, P, 1)
    cols = (ox[:, None] + offsets)[:, None, :]  # (k, 1, P)
    dy = (rows + 0.5) * (2.0 / size) - 1.0 - cy[:, None, None]
    dx = (cols + 0.5) * (2.0 / size) - 1.0 - cx[:, None, None]
    layer = _nodule_layer(f, idx, dy.astype(np.float32), dx.astype(np.float32), px, py, 1.2 / size)
    k = idx[:, None, None]
    img[k, rows, cols] += layer * lungs[k, rows, cols]


def _nodule_layer(
    f: Factors,
    idx: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    edge: float,
) -> np.ndarray:
    """Attenuation added by nodules at offsets ``dy, dx`` from their centres (k, P, P)."""

    def c(key: str) -> np.ndarray:
        return np.asarray(f[key], dtype=np.float32)[idx][:, None, None]

    r = c("nodule_size_mm") / (2.0 * _MM_PER_UNIT)
    d = np.sqrt(dx * dx + dy * dy)
    phi = np.arctan2(dy, dx)
    margin = c("margin")
    lob_amp = np.where(margin == LOBULATED, 0.22, np.where(margin == SPICULATED, 0.1, 0.0))
    p1 = c("lobulation_phase")
    outline = r * (1.0 + lob_amp * (0.6 * np.cos(3.0 * phi + p1) + 0.4 * np.cos(5.0 * phi - p1)))
    soft = np.maximum(0.12 * r, edge)
    mass = smoothstep(outline + soft, outline - soft, d)
    # spicules: thin rays beyond the margin
    ray = np.maximum(np.cos(7.0 * phi + c("spicule_phase")), 0.0)
    ray *= ray
    ray *= ray
    ray *= ray
    spic = (margin == SPICULATED) * ray * smoothstep(outline * 2.3, outline, d)

    gg = c("ground_glass_share")
    core_r = r * np.clip((0.85 - gg) / 0.85, 0.0, 1.0) ** 0.6
    core = smoothstep(core_r + soft, core_r - soft, d) * (core_r > 0)
    contrast = c("nodule_contrast")
    layer = contrast * (0.3 * mass + 0.7 * core + 0.5 * spic)

    # air bronchogram: a dark tube crossing the nodule
    ang = c("bronchogram_angle")
    perp = np.abs(np.cos(ang) * dy - np.sin(ang) * dx)
    tube_w = np.maximum(0.14 * r, 0.6 * edge)
    tube = smoothstep(tube_w * 1.5, tube_w * 0.5, perp) * smoothstep(0.95 * r, 0.6 * r, d)
    layer -= c("air_bronchogram") * tube * layer * 0.85

    # pleural retraction: a fine line from the nodule to the nearest pleura
    length = np.sqrt(px * px + py * py)[:, None, None]
    ux = px[:, None, None] / (length + 1e-6)
    uy = py[:, None, None] / (length + 1e-6)
    along = dx * ux + dy * uy
    across = np.abs(dx * uy - dy * ux)
    line_w = max(0.012, 0.7 * edge)
    tag = smoothstep(line_w, 0.3 * line_w, across) * (along > 0.5 * r) * (along < length + 0.04)
    layer += c("pleural_retraction") * tag * contrast * 0.55
    return layer


def _ellipse(
    u: np.ndarray,
    v: np.ndarray,
    params: tuple[float, float, float, float],
    scale: np.ndarray,
    step: np.ndarray,
) -> np.ndarray:
    cu, cv, ru, rv = params
    return _blob(u - cu, v - cv, ru * scale, rv * scale, step)


def _blob(
    du: np.ndarray, dv: np.ndarray, ru: float | np.ndarray, rv: float | np.ndarray, step: np.ndarray
) -> np.ndarray:
    """Soft-edged ellipse from offsets ``du, dv`` and half-axes ``ru, rv`` (body units)."""
    r = np.sqrt((du / ru) ** 2 + (dv / rv) ** 2)
    e = step / np.minimum(ru, rv)
    return smoothstep(1.0 + e, 1.0 - e, r)


# ---------------------------------------------------------------------- report text
def _choice(options: tuple[str, ...], w: float) -> str:
    return options[int(w * len(options)) % len(options)]


_TYPE_WORDS = {
    SOLID: ("solid", "solid", "soft-tissue attenuation"),
    PART_SOLID: ("part-solid", "part-solid", "mixed solid and ground-glass"),
    GROUND_GLASS: ("pure ground-glass", "ground-glass", "non-solid ground-glass"),
}
_NODULE_TEMPLATES = (
    "{type} nodule in the {lobe} measuring {size}",
    "there is a {size} {type} nodule in the {lobe}",
    "a {type} pulmonary nodule is seen in the {lobe}, measuring {size}",
    "{lobe_cap} {type} nodule, {size} in diameter",
    "within the {lobe} there is a {type} nodule of {size}",
    "{size} {type} nodule ({abbr})",
    "a {type} nodule measuring {size} is identified in the {lobe}",
)
_MARGIN_SENTENCES = {
    SMOOTH: (
        "margins are smooth",
        "the nodule is well circumscribed",
        "smooth, well-defined margins",
        "the border is sharply marginated",
        "it has a smooth contour",
    ),
    LOBULATED: (
        "margins are lobulated",
        "the nodule has a lobulated contour",
        "lobulated margins",
        "its outline is lobulated",
        "the border is gently lobulated",
    ),
    SPICULATED: (
        "margins are spiculated",
        "spiculated margins",
        "the nodule shows spiculation",
        "irregular spiculated borders",
        "fine spicules radiate from the margin",
    ),
}
_GGO_PART = (
    "ground-glass component of about {pct}%",
    "the ground-glass component makes up roughly {pct}% of the lesion",
    "a {amount} ground-glass component surrounds the solid core",
    "{amount} ground-glass component",
    "solid core with a {amount} ground-glass halo",
)
_GGO_PURE = (
    "vessels are seen coursing through the ground-glass opacity",
    "entirely ground-glass with no solid component",
    "no solid component is seen",
    "the lesion is of uniform ground-glass attenuation",
    "purely ground-glass attenuation",
)
_GGO_NONE = (
    "no ground-glass component",
    "there is no surrounding ground-glass",
    "uniformly solid attenuation",
    "no ground-glass halo",
    "entirely solid",
)
_BRONCHOGRAM = (
    "air bronchograms are present within the nodule",
    "internal air bronchogram",
    "air bronchograms traverse the lesion",
    "a bubble-like air bronchogram is seen within it",
    "contains air bronchograms",
)
_NO_BRONCHOGRAM = (
    "no air bronchogram",
    "no internal air bronchograms",
    "without air bronchograms",
)
_RETRACTION = (
    "pleural retraction toward the adjacent chest wall",
    "associated pleural retraction",
    "a pleural tag extends to the adjacent pleura",
    "there is pleural indentation with retraction",
    "linear pleural retraction is present",
)
_NO_RETRACTION = (
    "no pleural retraction",
    "no pleural tag",
    "without pleural indentation",
)
_NO_NODULE = (
    "no pulmonary nodule",
    "no pulmonary nodules or masses",
    "no suspicious pulmonary nodule is identified",
    "the lungs are free of nodules",
    "no focal lung lesion",
    "negative for pulmonary nodules",
    "no nodule or mass is seen",
)
_CLEAR_LUNGS = (
    "the lungs are clear",
    "lung parenchyma is unremarkable",
    "normal lung parenchyma",
    "clear lungs bilaterally",
)
_BACKGROUND = (
    "no pleural effusion",
    "the airways are patent",
    "heart size is normal",
    "the mediastinum is unremarkable",
    "no mediastinal lymphadenopathy",
    "osseous structures are intact",
    "no consolidation",
    "no pneumothorax",
)
_NODULE_CONTEXT = (
    "no pleural effusion",
    "the airways are patent",
    "heart size is normal",
    "no mediastinal lymphadenopathy",
    "osseous structures are intact",
    "no pneumothorax",
    "the remaining lung parenchyma is clear",
    "follow-up CT is recommended",
)


def _nodule_sentences(f: Factors, i: int, w: np.ndarray, rng: np.random.Generator) -> list[str]:
    lobe = int(f["lobe"][i])
    kind = int(f["nodule_type"][i])
    gg = float(f["ground_glass_share"][i])
    sentence = _choice(_NODULE_TEMPLATES, w[0]).format(
        type=_choice(_TYPE_WORDS[kind], w[1]),
        lobe=LOBES[lobe],
        lobe_cap=LOBES[lobe].capitalize(),
        abbr=LOBE_ABBREVIATIONS[lobe],
        size=size_text(rng, float(f["nodule_size_mm"][i])),
    )
    out = [sentence]
    margin = int(f["margin"][i])
    out.append(_choice(_MARGIN_SENTENCES[margin], w[5]))
    if kind == PART_SOLID:
        amount = "predominant" if gg >= 0.5 else "small" if gg < 0.4 else "moderate"
        out.append(_choice(_GGO_PART, w[6]).format(pct=int(round(gg * 10) * 10), amount=amount))
    elif kind == GROUND_GLASS:
        if w[7] < 0.6:
            out.append(_choice(_GGO_PURE, w[6]))
    elif w[7] < 0.4:
        out.append(_choice(_GGO_NONE, w[6]))
    if f["air_bronchogram"][i]:
        out.append(_choice(_BRONCHOGRAM, w[8]))
    elif w[9] < 0.3:
        out.append(_choice(_NO_BRONCHOGRAM, w[8]))
    if f["pleural_retraction"][i]:
        out.append(_choice(_RETRACTION, w[10]))
    elif w[11] < 0.3:
        out.append(_choice(_NO_RETRACTION, w[10]))
    return out


# ---------------------------------------------------------------------- labeller
_NODULE_RX = re.compile(
    r"\bnodul(?:e|es|ar)\b|\bmicronodules?\b|\bcoin lesion\b"
    r"|\b(?:ground[- ]glass|subsolid|part[- ]solid|non[- ]solid)\s+(?:opacit(?:y|ies)|lesions?)\b"
    r"|\bGGO\b|\bGGN\b|\bpulmonary (?:mass|lesion)\b|\blung (?:mass|lesion)\b",
    re.IGNORECASE,
)
# negation written after the finding, within its clause ("nodule: none", "nodule not seen")
