"""Chest X-ray phantom: a posteroanterior radiograph with up to four findings at once.

Dense tissue and bone are bright, air is dark. Two dark lung fields with faint vascular markings,
a bright mediastinum and trachea in the centre, the heart shadow in the lower centre bulging to
the image's right (the patient's left), diaphragm domes meeting the chest wall in sharp
costophrenic angles, curved rib bands, clavicles across the top and soft tissue at the edges.
Findings (multi-label): cardiomegaly (cardiothoracic ratio above 0.5), pleural effusion (a basal
opacity with a meniscus, blunting the costophrenic angle), consolidation (patchy ill-defined
opacity, sometimes with air bronchograms) and a pulmonary nodule (a round opacity under 3 cm).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from synthbench.data.phantoms._base import Factors, ModalityInfo, PhantomModality, ReportLabels
from synthbench.data.phantoms._common import grid, lerp, smooth_noise, smoothstep
from synthbench.data.phantoms._text import affirms, clauses, first_size_mm, join_report, size_text

RIGHT, LEFT, BOTH = 0, 1, 2  # the patient's sides; the patient's right is the image's left
SIDES = ("right", "left")
ZONES = ("upper", "mid", "lower")
# thoracic half-width in template units: the inner chest wall at the level of the domes
_THORAX_HALF = 0.86
# lesions are drawn larger than the thorax scale would give (about 1.6x) to stay visible at 32 px
_MM_PER_UNIT = 120.0
# zone bands (v) and lateral ranges (|u|) where lesions are placed, in template units
_ZONE_V = np.array([[-0.66, -0.36], [-0.3, 0.0], [0.04, 0.26]], dtype=np.float32)


def _wall(v: np.ndarray) -> np.ndarray:
    """Half-width of the lung fields at height ``v``: narrow apices, lateral walls curving out."""
    s = np.clip((0.62 - v) / 1.45, 0.0, 1.0)
    return 0.88 - 0.52 * s**2.4


class ChestXRay(PhantomModality):
    """Posteroanterior chest radiograph; multi-label cardiomegaly, effusion, consolidation, nodule."""

    info = ModalityInfo(
        name="cxr",
        prompt_name="Chest X-ray",
        channels=1,
        findings=("cardiomegaly", "effusion", "consolidation", "nodule"),
        multilabel=True,
        description="posteroanterior chest radiograph; multi-label findings",
    )
    prevalence = (0.3, 0.3, 0.3, 0.3)

    # ------------------------------------------------------------------ factors
    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        findings = np.asarray(findings, dtype=bool)
        n = findings.shape[0]
        cardio, effusion, consolidation, nodule = (findings[:, j] for j in range(4))
        u = rng.random((n, 24))
        f: Factors = {}
        f["cardiomegaly"] = cardio
        f["effusion"] = effusion
        f["consolidation"] = consolidation
        f["nodule"] = nodule

        # anatomy and acquisition
        f["anatomy_variant"] = rng.integers(0, N_VARIANTS, n)
        f["thorax_width"] = lerp(0.8, 0.92, u[:, 0])
        f["thorax_height"] = lerp(0.8, 0.94, u[:, 1])
        f["centre_x"] = rng.normal(0.0, 0.025, n)
        f["centre_y"] = rng.normal(0.04, 0.025, n)
        f["exposure"] = lerp(-0.06, 0.06, u[:, 2])
        f["contrast"] = lerp(0.85, 1.15, u[:, 3])
        f["noise_sigma"] = lerp(0.012, 0.035, u[:, 4]) * lerp(0.7, 1.5, difficulty)

        # heart: cardiothoracic ratio, above 0.5 with cardiomegaly (closer to 0.5 when difficult)
        low = lerp(0.58, 0.53, difficulty)
        f["ctr"] = np.round(
            np.where(cardio, lerp(low, 0.7, u[:, 5] ** 1.3), lerp(0.41, 0.49, u[:, 5])), 2
        )

        # effusion: side and height of the fluid (fraction of the lung height)
        side = np.where(u[:, 6] < 0.4, RIGHT, np.where(u[:, 6] < 0.8, LEFT, BOTH))
        f["effusion_side"] = np.where(effusion, side, -1)
        scale = lerp(1.2, 0.75, difficulty)
        for key, col, on in (("right", 7, (RIGHT, BOTH)), ("left", 8, (LEFT, BOTH))):
            has = effusion & np.isin(side, on)
            f[f"effusion_{key}"] = np.where(
                has, np.round(lerp(0.12, 0.42, u[:, col]) * scale, 2), 0.0
            )

        # consolidation: side, zone, extent, density, air bronchograms
        f["consolidation_side"] = np.where(consolidation, (u[:, 9] < 0.5).astype(int), -1)
        zone = rng.choice(3, n, p=[0.25, 0.3, 0.45])
        f["consolidation_zone"] = np.where(consolidation, zone, -1)
        f["consolidation_radius"] = np.where(consolidation, lerp(0.18, 0.3, u[:, 10]), 0.0)
        f["consolidation_density"] = np.where(
            consolidation, lerp(0.65, 0.3, difficulty) * lerp(0.8, 1.2, u[:, 11]), 0.0
        )
        f["air_bronchograms"] = consolidation & (u[:, 12] < 0.5)
        f["consolidation_phase"] = u[:, 19] * 2.0 * np.pi  # irregular outline
        f["consolidation_u"], f["consolidation_v"] = _place(
            f["consolidation_side"], zone, u[:, 13], u[:, 14]
        )

        # nodule: side, zone, size, density
        f["nodule_side"] = np.where(nodule, (u[:, 15] < 0.5).astype(int), -1)
        zone = rng.choice(3, n, p=[0.4, 0.35, 0.25])
        f["nodule_zone"] = np.where(nodule, zone, -1)
        mm = np.clip(np.round(np.exp(rng.normal(np.log(15.0), 0.35, n))), 6, 29)
        f["nodule_size_mm"] = np.where(nodule, mm * 1.0, 0.0)
        f["nodule_density"] = np.where(
            nodule, lerp(0.5, 0.22, difficulty) * lerp(0.8, 1.2, u[:, 16]), 0.0
        )
        f["nodule_u"], f["nodule_v"] = _place(f["nodule_side"], zone, u[:, 17], u[:, 18])
        return f

    # ------------------------------------------------------------------ image
    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        f = factors
        y, x = grid(size)

        def c(key: str) -> np.ndarray:
            return np.asarray(f[key], dtype=np.float32)[:, None, None]

        # anatomy: the patient's template, scaled and shifted into place (nearest neighbour)
        density_bank, air_bank = _template_bank(size)
        _, rows, cols = density_bank.shape
        w, h = c("thorax_width"), c("thorax_height")
        u_row = (x[:, :1, :] - c("centre_x")) / w  # (n, 1, W)
        v_col = (y[:, :, :1] - c("centre_y")) / h  # (n, H, 1)
        iu = np.clip((u_row + _SPAN) * (cols / (2 * _SPAN)), 0, cols - 1).astype(np.intp)
        iv = np.clip((v_col + _SPAN) * (rows / (2 * _SPAN)), 0, rows - 1).astype(np.intp)
        variant = np.asarray(f["anatomy_variant"], dtype=np.intp)[:, None, None]
        flat = (variant * rows + iv) * cols + iu
        img = density_bank.reshape(-1).take(flat).astype(np.float32, copy=False)
        air = air_bank.reshape(-1).take(flat).astype(np.float32, copy=False)
        u = u_row + np.zeros_like(v_col)  # (n, H, W) template coordinates
        v = v_col + np.zeros_like(u_row)

        # heart shadow: width = ctr x thoracic width, about two thirds of it to the image's right
        # (the patient's left ventricle); both borders curve out from the mediastinum to their
        # widest just above the diaphragm. It replaces lung air with soft tissue.
        half = c("ctr") * _THORAX_HALF
        _, dome_i, _, _ = variant_levels(np.asarray(f["anatomy_variant"]))
        widest = np.asarray(DOME_LEVELS, np.float32)[dome_i][:, None, None] + 0.02
        e = 1.5 / size
        right = 0.68 * half * _arc(v_col, widest, 0.24 + 0.3 * half)
        left = 1.32 * half * _arc(v_col, widest, 0.3 + 0.5 * half)
        heart = smoothstep(-e, e, np.minimum(u + right, left - u))
        img += heart * (0.33 * air + 0.03)
        air = air * (1.0 - heart)  # what the heart leaves of the lungs, for the findings below

        idx = np.flatnonzero(np.asarray(f["effusion"], dtype=bool))
        if idx.size:
            img[idx] += _effusion(f, idx, u[idx], v[idx], air[idx])
        idx = np.flatnonzero(np.asarray(f["consolidation"], dtype=bool))
        if idx.size:
            img[idx] += _consolidation(f, idx, u[idx], v[idx], air[idx], rng, size)
        idx = np.flatnonzero(np.asarray(f["nodule"], dtype=bool))
        if idx.size:
            k = idx[:, None, None]
            r = np.asarray(f["nodule_size_mm"], np.float32)[k] / (2.0 * _MM_PER_UNIT) / w[idx]
            du = (u[idx] - np.asarray(f["nodule_u"], np.float32)[k]) / r
            dv = (v[idx] - np.asarray(f["nodule_v"], np.float32)[k]) * (h[idx] / w[idx]) / r
            edge = 2.4 / (size * r * w[idx])
            blob = smoothstep(1.0 + edge, np.maximum(1.0 - edge, 0.0), np.sqrt(du * du + dv * dv))
            img[idx] += np.asarray(f["nodule_density"], np.float32)[k] * blob

        img += rng.standard_normal(img.shape, dtype=np.float32) * c("noise_sigma")
        img = (img - 0.45) * c("contrast") + 0.45 + c("exposure")
        return np.clip(img, 0.0, 1.0)[:, None]

    # ------------------------------------------------------------------ reports
    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        f = factors
        n = len(f["ctr"])
        u = rng.random((n, 20))
        reports = []
        for i in range(n):
            w = u[i]
            sentences = [_heart_sentence(f, i, w, rng)]
            if f["effusion"][i]:
                sentences.append(_effusion_sentence(f, i, w))
            elif w[4] < 0.5:
                sentences.append(_choice(_NO_EFFUSION, w[5]))
            if f["consolidation"][i]:
                sentences += _consolidation_sentences(f, i, w)
            elif w[6] < 0.5:
                sentences.append(_choice(_NO_CONSOLIDATION, w[7]))
            if f["nodule"][i]:
                sentences.append(_nodule_sentence(f, i, w, rng))
            elif w[8] < 0.35:
                sentences.append(_choice(_NO_NODULE, w[9]))
            clear = not (f["effusion"][i] or f["consolidation"][i] or f["nodule"][i])
            if clear and w[10] < 0.6:
                sentences.append(_choice(_CLEAR, w[11]))
            for j in range(int(w[12] * 3)):
                sentence = _choice(_BACKGROUND, w[13 + j])
                if sentence not in sentences:
                    sentences.append(sentence)
            reports.append(join_report(self.info.prompt_name, sentences, rng))
        return reports

    # ------------------------------------------------------------------ labeller
    def label_report(self, text: str) -> ReportLabels:
        parts = clauses(text)
        found: set[str] = set()
        measurements: dict[str, float] = {}
        ctr = _read_ctr(text)
        if ctr is not None:
            measurements["ctr"] = ctr
        if any(affirms(p, _CARDIO_RX) for p in parts) or (ctr is not None and ctr > 0.5):
            found.add("cardiomegaly")
        if any(affirms(p, _EFFUSION_RX) for p in parts):
            found.add("effusion")
        if any(affirms(p, _CONSOLIDATION_RX) for p in parts):
            found.add("consolidation")
        nodule_parts = [p for p in parts if affirms(p, _NODULE_RX)]
        if nodule_parts:
            found.add("nodule")
            size = next((s for s in map(first_size_mm, nodule_parts) if s is not None), None)
            if size is not None:
                measurements["size_mm"] = size
        return ReportLabels(
            modality=self.info.name, findings=frozenset(found), measurements=measurements
        )


def _arc(v: np.ndarray, widest: np.ndarray, height: np.ndarray) -> np.ndarray:
    """A heart border's reach (0..1) at height ``v``: an elliptic arc up from its widest level."""
    t = np.clip((widest - v) / height, 0.0, 1.0) ** 1.3
    return np.sqrt(1.0 - t * t)


def _place(
    side: np.ndarray, zone: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Template coordinates of a lesion in a lung zone; the patient's right is the image's left."""
    band = _ZONE_V[np.clip(zone, 0, 2)]
    v = lerp(band[:, 0], band[:, 1], b)
    lateral = lerp(0.28, _wall(v) - 0.17, a)
    u = np.where(np.asarray(side) == LEFT, lateral, -lateral)
    return np.where(side >= 0, u, 0.0), np.where(side >= 0, v, 0.0)


# ---------------------------------------------------------------------- findings
def _effusion(
    f: Factors, idx: np.ndarray, u: np.ndarray, v: np.ndarray, air: np.ndarray
) -> np.ndarray:
    """Basal fluid: fills the lung below a meniscus that climbs toward the chest wall."""
    k = idx[:, None, None]
    height = np.where(
        u < 0,
        np.asarray(f["effusion_right"], np.float32)[k],
        np.asarray(f["effusion_left"], np.float32)[k],
    )
    # homogeneous fluid filling the costophrenic recess and the base up to a concave meniscus
    # that climbs toward the chest wall; it effaces the hemidiaphragm below it
    lateral = ((np.abs(u) - 0.2) / 0.7) ** 2
    level = 0.44 - 0.9 * height - (0.12 + 0.5 * height) * lateral
    fluid = smoothstep(level - 0.02, level + 0.07, v) * (height > 0)
    return fluid * 0.35 * air


def _consolidation(
    f: Factors,
    idx: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    air: np.ndarray,
    rng: np.random.Generator,
    size: int,
) -> np.ndarray:
    """Patchy ill-defined airspace opacity, sometimes crossed by dark air bronchograms."""

    def c(key: str) -> np.ndarray:
        return np.asarray(f[key], np.float32)[idx][:, None, None]

    radius = c("consolidation_radius")
    du = (u - c("consolidation_u")) / (1.3 * radius)
    dv = (v - c("consolidation_v")) / (0.9 * radius)
    # an irregular, ill-defined outline that fades out over half its radius
    phi = np.arctan2(dv, du)
    p = c("consolidation_phase")
    outline = 1.0 + 0.22 * np.cos(3.0 * phi + p) + 0.14 * np.cos(5.0 * phi - 2.0 * p)
    patch = smoothstep(1.0, 0.45, np.sqrt(du * du + dv * dv) / outline)
    # mottled airspace filling, crossed by dark branching air bronchograms
    texture = smooth_noise(rng, len(idx), size, 0.035)
    patchy = patch * (0.45 + 0.55 * smoothstep(-1.2, 0.6, texture))
    bronchi = smoothstep(0.22, 0.05, np.abs(texture)) * smoothstep(0.5, 0.8, patch)
    patchy = patchy * (1.0 - 0.7 * bronchi * c("air_bronchograms"))
    return c("consolidation_density") * patchy * air


# ---------------------------------------------------------------------- anatomy templates
# Every anatomy variant (rib spacing, dome height, clavicle tilt, vessel pattern) is rendered once
# per image size in thorax coordinates (u across, v down, 0 at the thorax centre) and patients
# sample it through their own scale and shift.
RIB_SPACINGS = (0.14, 0.155, 0.17)
DOME_LEVELS = (0.3, 0.37)
CLAVICLE_TILTS = (0.15, 0.3)
N_VESSEL_PATTERNS = 2
N_VARIANTS = len(RIB_SPACINGS) * len(DOME_LEVELS) * len(CLAVICLE_TILTS) * N_VESSEL_PATTERNS
_SPAN = 1.3  # templates cover u, v in [-1.3, 1.3]


def variant_levels(variant: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Level indices (rib spacing, dome, clavicle, vessel pattern) of anatomy variants."""
    variant = np.asarray(variant)
    vessel = variant % N_VESSEL_PATTERNS
    rest = variant // N_VESSEL_PATTERNS
    clavicle = rest % len(CLAVICLE_TILTS)
    rest = rest // len(CLAVICLE_TILTS)
    dome = rest % len(DOME_LEVELS)
    rib = rest // len(DOME_LEVELS)
    return rib, dome, clavicle, vessel


@cache
def _template_bank(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per variant (variants, rows, cols): tissue density, and the lung air mask."""
    res = int(np.ceil(2.0 * size))
    t = np.linspace(-_SPAN, _SPAN, res, dtype=np.float32)
    u, v = t[None, None, :], t[None, :, None]
    rib_i, dome_i, clav_i, vessel_i = variant_levels(np.arange(N_VARIANTS))
    dtype = np.float32 if size <= 128 else np.float16  # keeps the cache small at large sizes
    bank = (np.empty((N_VARIANTS, res, res), dtype), np.empty((N_VARIANTS, res, res), dtype))
    for start in range(0, N_VARIANTS, 6):
        part = slice(start, start + 6)

        def level(levels: tuple[float, ...], index: np.ndarray, part: slice = part) -> np.ndarray:
            return np.asarray(levels, np.float32)[index[part]][:, None, None]

        density, air = _anatomy(
            u,
            v,
            level(RIB_SPACINGS, rib_i),
            level(DOME_LEVELS, dome_i),
            level(CLAVICLE_TILTS, clav_i),
            vessel_i[part],
            step=1.5 / size,
        )
        bank[0][part] = density
        bank[1][part] = air
    return bank


def _anatomy(
    u: np.ndarray,
    v: np.ndarray,
    rib_spacing: np.ndarray,
    dome: np.ndarray,
    clavicle_tilt: np.ndarray,
    pattern: np.ndarray,
    step: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Radiographic density without the heart, and the lung air mask, of templates."""
    k = rib_spacing.shape[0]
    au = np.abs(u)
    # body: torso with shoulders narrowing to the neck
    body_half = lerp(0.36, 1.12, smoothstep(-1.05, -0.7, v))
    body = smoothstep(body_half + step, body_half - step, au)
    density = 0.5 * body + np.zeros((k, 1, 1), np.float32)

    # lungs: lateral chest wall, rounded apices, diaphragm domes (the right one higher),
    # mediastinum medially; the lateral corner of each dome is the costophrenic angle
    t = (au - 0.36) / 0.5
    dome_v = dome - 0.05 * (u < 0) + np.where(t < 0, 0.3, 0.12) * t * t + 0.2 * t**4
    wall = _wall(v)
    lateral = smoothstep(wall + step, wall - step, au)
    apex_v = -0.86 + 2.2 * (au - 0.3) ** 2
    apex = smoothstep(apex_v - step, apex_v + step, v)
    base = smoothstep(dome_v + step, dome_v - step, v)
    medial = smoothstep(0.12, 0.17, au)
    air = lateral * apex * base * medial
    density = density - 0.36 * air
    density += 0.1 * smoothstep(dome_v - step, dome_v + step, v) * body  # abdomen

    # mediastinum (wider at the aortic knob), faint spine, trachea as a dark air column,
    # a gastric bubble under the left dome
    medi_half = 0.16 + 0.03 * smoothstep(-0.2, 0.2, v)
    density += 0.14 * smoothstep(medi_half + 0.03, medi_half - 0.03, au) * (v > -1.0)
    # aortic knob: a rounded bulge of the left upper mediastinal border (image right)
    knob = ((u - 0.17) / 0.1) ** 2 + ((v + 0.44) / 0.085) ** 2
    density += 0.12 * smoothstep(1.0, 0.75, knob) * (1.0 - 0.6 * air)
    density += 0.04 * smoothstep(0.07, 0.05, au) * (0.5 + 0.5 * np.cos(2 * np.pi * v / 0.13))
    density -= 0.1 * smoothstep(0.045, 0.03, au) * smoothstep(-0.25, -0.35, v)
    bubble = ((u - 0.45) / 0.1) ** 2 + ((v - dome - 0.14) / 0.06) ** 2
    density -= 0.1 * smoothstep(1.0, 0.7, bubble)
    # hila
    density += 0.08 * smoothstep(1.0, 0.3, ((au - 0.2) / 0.09) ** 2 + ((v + 0.12) / 0.16) ** 2)

    # ribs: posterior arcs rising then falling laterally, fainter anterior ribs sloping down
    # toward the midline; both only within the chest
    chest = smoothstep(wall + 0.1, wall + 0.04, au) * smoothstep(-0.98, -0.85, v)
    chest = chest * smoothstep(dome_v + 0.2, dome_v + 0.02, v)
    post = (v + 0.95 * au - 1.05 * au * au) / rib_spacing
    post_ribs = smoothstep(0.5, 0.85, np.cos(2.0 * np.pi * post)) * smoothstep(0.06, 0.12, au)
    ant = (v + 0.4 * au) / (rib_spacing * 1.2)
    ant_ribs = smoothstep(0.6, 0.85, np.cos(2.0 * np.pi * ant + 1.0)) * smoothstep(0.2, 0.4, au)
    density += chest * (0.075 * post_ribs + 0.035 * ant_ribs)
    # clavicles
    # clavicles: from the sternal notch out to the shoulders, gently S-shaped, rising laterally
    clav_v = -0.76 - 0.5 * clavicle_tilt * (au - 0.15) + 0.05 * np.sin(5.0 * au)
    clav = smoothstep(0.05, 0.028, np.abs(v - clav_v)) * smoothstep(0.08, 0.14, au)
    density += 0.15 * clav * smoothstep(0.95, 0.85, au) * body

    # vascular markings: faint lines fanning out from the hila, fading toward the periphery
    noise = smooth_noise(np.random.default_rng(5), k, u.shape[-1], 0.03)
    hu, hv = au - 0.18, v + 0.1
    dist = np.sqrt(hu * hu + hv * hv)
    phase = np.asarray(pattern, np.float32)[:, None, None]
    spokes = np.cos(13.0 * np.arctan2(hv, hu) + 2.0 * noise + 1.7 * phase)
    markings = smoothstep(0.8, 0.95, spokes) * smoothstep(0.8, 0.1, dist)
    density += 0.08 * markings * air
    return density, air


# ---------------------------------------------------------------------- report text
def _choice(options: tuple[str, ...], w: float) -> str:
    return options[int(w * len(options)) % len(options)]


_CARDIO = (
    "cardiomegaly with a cardiothoracic ratio of {ctr}",
    "the heart is enlarged (CTR {ctr})",
    "enlarged cardiac silhouette",
    "the cardiac silhouette is enlarged, cardiothoracic ratio {ctr}",
    "cardiomegaly",
    "cardiac enlargement, cardiothoracic ratio {ctr}",
    "cardiothoracic ratio {ctr}, in keeping with cardiomegaly",
)
_NORMAL_HEART = (
    "heart size is normal",
    "normal cardiac silhouette (cardiothoracic ratio {ctr})",
    "the heart is not enlarged",
    "cardiothoracic ratio {ctr}, within normal limits",
    "no cardiomegaly",
    "cardiomediastinal silhouette within normal limits",
    "heart size normal, CTR {ctr}",
)
_EFFUSION_ONE = (
    "{size} {side} pleural effusion with blunting of the {side} costophrenic angle",
    "blunting of the {side} costophrenic angle, consistent with a {size} effusion",
    "{size} {side}-sided pleural effusion",
    "there is a {size} {side} pleural effusion with a meniscus",
    "fluid layering at the {side} base, in keeping with a {size} pleural effusion",
)
_EFFUSION_BOTH = (
    "bilateral pleural effusions, larger on the {larger}",
    "{size} bilateral pleural effusions blunting both costophrenic angles",
    "blunting of both costophrenic angles due to bilateral effusions",
    "{size} pleural effusions on both sides",
    "bilateral basal pleural fluid, {larger} more than {smaller}",
)
_CONSOLIDATION = (
    "airspace opacity in the {side} {zone} zone",
    "patchy consolidation in the {side} {zone} zone",
    "{side} {zone} zone consolidation",
    "ill-defined airspace shadowing in the {side} {zone} zone, likely consolidation",
    "focal consolidation projected over the {side} {zone} zone",
    "there is patchy airspace opacification in the {side} {zone} zone",
)
_BRONCHOGRAMS = (
    "air bronchograms are seen within it",
    "with air bronchograms",
    "air bronchograms are visible within the opacity",
    "containing air bronchograms",
    "air bronchograms traverse the consolidation",
)
_NODULE = (
    "a well-defined {size} nodule in the {side} {zone} zone",
    "rounded opacity measuring {size} in the {side} {zone} zone, in keeping with a pulmonary nodule",
    "solitary pulmonary nodule ({size}) projected over the {side} {zone} zone",
    "there is a {size} nodular opacity in the {side} {zone} zone",
    "{side} {zone} zone nodule measuring {size}",
    "a {size} round opacity is seen in the {side} {zone} zone",
)
_NO_EFFUSION = (
    "no pleural effusion",
    "costophrenic angles are sharp",
    "no effusion",
    "both costophrenic angles are clear",
    "no pleural effusion or pneumothorax",
)
_NO_CONSOLIDATION = (
    "no focal consolidation",
    "no airspace opacity",
    "no consolidation",
    "no focal airspace disease",
)
_NO_NODULE = (
    "no pulmonary nodule",
    "no suspicious nodule or mass",
    "no nodules are seen",
    "no focal nodular opacity",
)
_CLEAR = (
    "the lungs are clear",
    "clear lungs",
    "both lung fields are clear",
    "lungs clear bilaterally",
)
_BACKGROUND = (
    "no pneumothorax",
    "the trachea is central",
    "mediastinal contours are normal",
    "bony thorax intact",
    "no acute bony abnormality",
    "the hila are normal",
)


def _ctr_text(ctr: float) -> str:
    return f"{ctr:.2f}"


def _heart_sentence(f: Factors, i: int, w: np.ndarray, rng: np.random.Generator) -> str:
    options = _CARDIO if f["cardiomegaly"][i] else _NORMAL_HEART
    return _choice(options, w[0]).format(ctr=_ctr_text(float(f["ctr"][i])))


def _volume_word(height: float) -> str:
    return "small" if height < 0.22 else "moderate" if height < 0.36 else "large"


def _effusion_sentence(f: Factors, i: int, w: np.ndarray) -> str:
    right, left = float(f["effusion_right"][i]), float(f["effusion_left"][i])
    if right > 0 and left > 0:
        larger, smaller = ("right", "left") if right >= left else ("left", "right")
        return _choice(_EFFUSION_BOTH, w[1]).format(
            larger=larger, smaller=smaller, size=_volume_word(max(right, left))
        )
    side = "right" if right > 0 else "left"
    return _choice(_EFFUSION_ONE, w[1]).format(side=side, size=_volume_word(max(right, left)))


def _consolidation_sentences(f: Factors, i: int, w: np.ndarray) -> list[str]:
    where = {
        "side": SIDES[int(f["consolidation_side"][i])],
        "zone": ZONES[int(f["consolidation_zone"][i])],
    }
    out = [_choice(_CONSOLIDATION, w[2]).format(**where)]
    if f["air_bronchograms"][i]:
        out.append(_choice(_BRONCHOGRAMS, w[3]))
    return out


def _nodule_sentence(f: Factors, i: int, w: np.ndarray, rng: np.random.Generator) -> str:
    return _choice(_NODULE, w[19]).format(
        size=size_text(rng, float(f["nodule_size_mm"][i])),
        side=SIDES[int(f["nodule_side"][i])],
        zone=ZONES[int(f["nodule_zone"][i])],
    )


# ---------------------------------------------------------------------- labeller
_CARDIO_RX = re.compile(
    r"\bcardiomegaly\b|\bcardiac enlargement\b|\benlarged (?:heart|cardiac)\b"
    r"|\b(?:heart|cardiac silhouette|cardiac shadow)(?: size)? (?:is |appears |looks )?enlarged\b",
    re.IGNORECASE,
)
_EFFUSION_RX = re.compile(
    r"\beffusions?\b|\bpleural fluid\b|\bhydrothorax\b|\bmeniscus\b"
    r"|\bblunt(?:ing|ed) (?:of )?(?:the |both )?(?:left |right |bilateral )?costophrenic"
    r"|\bbasal (?:pleural )?fluid\b|\bfluid layering\b",
    re.IGNORECASE,
)
_CONSOLIDATION_RX = re.compile(
    r"\bconsolidat\w*|\bair[- ]?space (?:opacit\w*|shadowing|disease|opacification)"
    r"|\bpneumonia\b|\bair bronchograms?\b|\bpatchy (?:opacit\w*|shadowing)|\balveolar opacit\w*",
    re.IGNORECASE,
)
_NODULE_RX = re.compile(
    r"\bnodul(?:e|es|ar)\b|\bcoin lesion\b|\b(?:round|rounded) opacit(?:y|ies)\b|\bpulmonary mass\b",
    re.IGNORECASE,
)
_CTR_RX = re.compile(
    r"\b(?:cardiothoracic ratio|CTR)\b\D{0,24}?(\d*\.\d+|\d+(?:\.\d+)?\s*%)", re.IGNORECASE
)


def _read_ctr(text: str) -> float | None:
    m = _CTR_RX.search(text)
    if not m:
        return None
    value = m.group(1).strip()
    if value.endswith("%"):
        return float(value[:-1]) / 100.0
    ratio = float(value)
    return ratio / 100.0 if ratio > 1.0 else ratio
