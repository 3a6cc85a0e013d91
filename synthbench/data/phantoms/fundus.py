"""Colour fundus photographs: normal, diabetic retinopathy, glaucoma.

A circular field of view on black shows an orange-red fundus, darker toward the rim, with fine
choroidal texture; the optic disc sits on the eye's nasal side (image right in a right eye), the
macula about 2.5 disc diameters away on the other side. Vessels leave the disc as curves written
in disc-centred coordinates, ``v = f(u)`` with ``u`` running toward the macula, so each vessel's
distance map needs only column-wise work. Diabetic retinopathy adds microaneurysms, dot-blot
haemorrhages, hard exudates (often a ring around the macula) and cotton-wool spots, splatted as
points and blurred to their size; glaucoma enlarges the pale cup and hides the vessels inside it.

Scale: the disc is about 1.8 mm across and 0.27 units wide, so one unit is about 6.7 mm.
"""

from __future__ import annotations

import re

import numpy as np

from synthbench.data.phantoms._base import Factors, ModalityInfo, PhantomModality, ReportLabels
from synthbench.data.phantoms._common import col, grid, lerp
from synthbench.data.phantoms._text import asserted, join_report, pick

MM_PER_UNIT = 6.7
NORMAL_CDR = (0.2, 0.5)
GLAUCOMA_CDR = (0.65, 0.9)
GLAUCOMA_THRESHOLD = 0.6  # a reported cup-to-disc ratio at or above this reads as glaucoma

# DR lesion types: (count factor, radius in units, colour change per channel, at most)
_LESIONS = {
    "microaneurysm": (0.018, (-0.35, -0.75, -0.6), 24),
    "haemorrhage": (0.045, (-0.45, -0.8, -0.7), 14),
    "exudate": (0.013, (0.5, 0.45, 0.08), 24),
    "cotton_wool": (0.04, (0.22, 0.4, 0.38), 5),
}
# colour changes under a vessel: veins darker, arteries lighter
_VEIN = np.array([0.45, 0.7, 0.6], np.float32)
_ARTERY = np.array([0.22, 0.45, 0.35], np.float32)
_RIM = np.array([0.96, 0.72, 0.45], np.float32)
_CUP = np.array([1.0, 0.93, 0.78], np.float32)


def _smooth_field(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """Unit-variance smooth noise: a coarse ``cells`` x ``cells`` grid interpolated to ``size``."""
    coarse = rng.standard_normal((n, cells, cells), dtype=np.float32)
    pos = (np.arange(size, dtype=np.float32) + 0.5) / size * (cells - 1)
    lo = np.minimum(pos.astype(np.int64), cells - 2)
    frac = pos - lo
    interp = np.zeros((size, cells), np.float32)
    interp[np.arange(size), lo] = 1.0 - frac
    interp[np.arange(size), lo + 1] = frac
    return interp @ coarse @ interp.T


def _gaussian_matrix(size: int, sigma_px: float) -> np.ndarray:
    """Row-normalised Gaussian blur as a (size, size) matrix: blurred = G @ image @ G.T."""
    i = np.arange(size, dtype=np.float32)
    g = np.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma_px) ** 2)
    return (g / g.sum(1, keepdims=True)).astype(np.float32)


def _splat(cx: np.ndarray, cy: np.ndarray, mass: np.ndarray, size: int) -> np.ndarray:
    """Point masses at image coordinates (cx, cy), each (m, k), as (m, size, size) pixels.

    Each mass goes to the nearest column and is shared linearly between the two nearest rows
    (vessels run mostly across the image, so this is where sub-pixel position shows).
    """
    m = cx.shape[0]
    half = np.float32(size / 2)
    px = np.asarray(cx, np.float32) * half + half
    py = np.asarray(cy, np.float32) * half + (half - 0.5)
    inside = (px >= 0) & (px < size) & (py > -0.5) & (py < size - 0.5)
    w = np.asarray(mass, np.float32) * inside
    np.clip(py, 0.0, size - 1.001, out=py)
    y0 = np.floor(py)
    below = w * (py - y0)
    w -= below
    idx = (y0 * size + np.clip(px, 0, size - 1).astype(np.int32)).astype(np.int64)
    idx += np.arange(0, m * size * size, size * size)[:, None]
    total = np.bincount(
        np.concatenate([idx.ravel(), (idx + size).ravel()]),
        np.concatenate([w.ravel(), below.ravel()]),
        minlength=m * size * size,
    )
    return total.reshape(m, size, size).astype(np.float32)


def _blur(images: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable blur of (m, size, size) images with a (size, size) blur matrix."""
    m, size, _ = images.shape
    rows = (images.reshape(-1, size) @ g.T).reshape(m, size, size)
    return np.matmul(g, rows)


class Fundus(PhantomModality):
    """Colour fundus photograph phantom (normal, diabetic retinopathy, glaucoma)."""

    info = ModalityInfo(
        name="fundus",
        prompt_name="Fundus",
        channels=3,
        classes=("normal", "diabetic_retinopathy", "glaucoma"),
        findings=("diabetic_retinopathy", "glaucoma"),
        description="colour fundus photograph: optic disc, vessel tree, macula",
    )

    # ------------------------------------------------------------------ factors
    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        n = labels.shape[0]
        u = rng.uniform
        dr, glaucoma = labels == 1, labels == 2
        conspicuity = np.clip(
            lerp(1.35, 0.3, difficulty) * np.exp(rng.normal(0.0, 0.3, n)), 0.1, 1.8
        )
        eye = rng.integers(0, 2, n)  # 0 right (OD), 1 left (OS)
        toward_macula = np.where(eye == 0, -1.0, 1.0)
        disc_radius = u(0.11, 0.16, n)
        f: Factors = {
            "label": labels.astype(np.int64),
            "eye": eye,
            "field_radius": u(0.9, 0.98, n),
            "disc_x": -toward_macula * u(0.34, 0.46, n),
            "disc_y": u(-0.1, 0.1, n),
            "disc_radius": disc_radius,
            "disc_elongation": u(1.0, 1.15, n),
            "macula_distance_dd": u(2.2, 2.8, n),  # disc diameters from the disc
            "macula_drop": u(0.0, 0.08, n),
            "macula_darkness": u(0.1, 0.3, n),
            "red": u(0.68, 0.92, n),
            "green": u(0.24, 0.42, n),
            "blue": u(0.06, 0.2, n),
            "exposure": u(0.75, 1.2, n),
            "vignetting": u(0.25, 0.7, n),
            "texture": u(0.02, 0.09, n),
            "noise": u(0.005, 0.04, n),
            "vessel_width": u(0.014, 0.022, n),
            "vessel_contrast": u(0.7, 1.1, n),
            "disc_pallor": u(0.45, 1.0, n),
            "conspicuity": conspicuity * (labels > 0),
        }
        # arcades: height above/below the macula, bend, and nasal vessels
        for name in ("sup", "inf"):
            f[f"arcade_{name}_height"] = u(0.33, 0.48, n)
            f[f"arcade_{name}_bend"] = u(0.1, 0.2, n)
            f[f"nasal_{name}_height"] = u(0.15, 0.45, n)
            f[f"nasal_{name}_spread"] = u(0.1, 0.6, n)
            for j, (lo, hi) in enumerate(((0.3, 0.55), (0.6, 0.95), (0.35, 0.9))):
                f[f"branch_{name}_at{j}"] = u(lo, hi, n)
                f[f"branch_{name}_slope{j}"] = u(0.3, 1.1, n)

        # cup-to-disc ratio: glaucoma above the threshold, others below it
        lo, hi = GLAUCOMA_CDR
        glaucoma_cdr = lerp(lo, hi, np.clip(rng.beta(1.3, 2.0, n) * conspicuity, 0.0, 1.0))
        f["cup_to_disc"] = np.round(np.where(glaucoma, glaucoma_cdr, u(*NORMAL_CDR, n)), 2)
        f["rim_notch"] = (glaucoma & (rng.random(n) < 0.35)).astype(np.int64)

        # diabetic retinopathy: grade 1 mild, 2 moderate, 3 severe non-proliferative
        grade = np.where(dr, rng.choice([1, 2, 3], n, p=[0.35, 0.4, 0.25]), 0)
        f["dr_grade"] = grade
        load = np.clip(grade / 3.0 * conspicuity, 0.0, 1.6)
        f["microaneurysm_count"] = np.where(dr, np.round(lerp(2, 22, load * u(0.6, 1.0, n))), 0)
        f["haemorrhage_count"] = np.where(
            grade >= 2, np.round(lerp(1, 13, load * u(0.5, 1.0, n))), 0
        )
        f["haemorrhage_count"] = np.where(grade == 1, rng.integers(0, 3, n), f["haemorrhage_count"])
        f["exudate_count"] = np.where(
            grade >= 2, np.round(lerp(3, 24, load * u(0.4, 1.0, n)) * (rng.random(n) < 0.8)), 0
        )
        f["cotton_wool_count"] = np.where(grade == 3, rng.integers(1, 6, n), 0)
        f["lesion_contrast"] = np.where(dr, np.clip(u(0.9, 1.3, n) * conspicuity, 0.15, 1.5), 0.0)
        f["exudate_ring_radius"] = u(0.12, 0.28, n)
        f["exudate_ring_angle"] = u(0.0, 2 * np.pi, n)
        f["lesion_spread"] = u(0.35, 0.7, n)
        for key in ("microaneurysm_count", "haemorrhage_count", "exudate_count"):
            f[key] = np.minimum(f[key], _LESIONS[key.removesuffix("_count")][2]).astype(np.int64)
        f["exudate_distance_mm"] = np.round(f["exudate_ring_radius"] * MM_PER_UNIT, 1)
        return f

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def macula_xy(f: Factors) -> tuple[np.ndarray, np.ndarray]:
        """Foveal centre per patient (x, y) in normalised image coordinates."""
        toward = np.where(f["eye"] == 0, -1.0, 1.0)
        x = f["disc_x"] + toward * f["macula_distance_dd"] * 2 * f["disc_radius"]
        return x, f["disc_y"] + f["macula_drop"]

    @staticmethod
    def _vessel_points(f: Factors, size: int) -> dict[str, tuple[np.ndarray, ...]]:
        """Points along every vessel centre line: kind -> (x, y, mass), each (n, points).

        Curves are written in disc-centred coordinates, ``u`` toward the macula and ``v`` down;
        the mass of a point is its share of the vessel's area (width times arc length, in pixels),
        so splatting and blurring the points paints the vessel at any image size.
        """
        toward = np.where(f["eye"] == 0, -1.0, 1.0).astype(np.float32)[:, None]

        def p(name: str) -> np.ndarray:
            return f[name][:, None].astype(np.float32)

        segments: dict[str, list[tuple[np.ndarray, ...]]] = {"vein": [], "artery": []}

        def add(kind: str, u, v, dv, du_dt, width, presence, steps: int) -> None:
            ds = np.sqrt(1.0 + dv * dv) * np.abs(du_dt) / (steps - 1)
            u, v, mass = np.broadcast_arrays(u, v, width * ds * presence)
            segments[kind].append((u, v, mass))

        steps = 2 * size
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :]
        for name, sign in (("sup", -1.0), ("inf", 1.0)):
            h, bend = p(f"arcade_{name}_height"), p(f"arcade_{name}_bend")

            def arcade(u: np.ndarray, scale: float, k: np.ndarray, h=h, sign=sign) -> tuple:
                e = np.exp(-u / k)
                return sign * (h * scale * (1 - e) - 0.06 * u**2), sign * (
                    h * scale * e / k - 0.12 * u
                )

            # temporal arcades, curving above and below the macula and thinning as they go
            for kind, scale, stretch in (("vein", 1.0, 1.0), ("artery", 0.84, 1.15)):
                u = 1.45 * t * t
                v, dv = arcade(u, scale, bend * stretch)
                fade = np.clip((1.45 - u) / 0.4, 0.0, 1.0)
                add(kind, u, v, dv, 2.9 * t, 1.0 - 0.5 * u / 1.45, fade, steps)
            # nasal vessels, radiating from the disc away from the macula
            for kind, scale in (("vein", 1.0), ("artery", 0.75)):
                hn, spread = p(f"nasal_{name}_height") * scale, p(f"nasal_{name}_spread")
                un = 0.8 * t * t
                e = np.exp(-un / 0.12)
                v = sign * (hn * (1 - e) + spread * un)
                dv = sign * (hn * e / 0.12 + spread)
                add(
                    kind,
                    -un,
                    v,
                    dv,
                    1.6 * t,
                    0.9 - 0.4 * un / 0.8,
                    np.clip((0.8 - un) / 0.3, 0, 1),
                    steps,
                )
            # branches: toward the macula (arterioles and venules) and outward to the periphery
            short = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
            for j, (kind, outward) in enumerate((("artery", -1.0), ("vein", -1.0), ("vein", 1.0))):
                at, slope = p(f"branch_{name}_at{j}"), p(f"branch_{name}_slope{j}")
                length = 0.22 + 0.18 * (outward > 0)
                u = at + length * short
                v_at, _ = arcade(at, 1.0 if kind == "vein" else 0.84, bend)
                v = v_at + sign * outward * slope * (u - at)
                dv = sign * outward * slope + 0.0 * u
                add(
                    kind,
                    u,
                    v,
                    dv,
                    length + 0.0 * u,
                    0.55 + 0.0 * u,
                    np.clip((1 - short) / 0.4, 0, 1),
                    size,
                )

        cdr, radius = p("cup_to_disc"), p("disc_radius")
        out = {}
        for kind, parts in segments.items():
            u = np.concatenate([a[0] for a in parts], 1)
            v = np.concatenate([a[1] for a in parts], 1)
            mass = np.concatenate([a[2] for a in parts], 1)
            x, y = p("disc_x") + toward * u, p("disc_y") + v
            # vessels dive out of sight at the cup edge (and bend there in glaucoma)
            rd = np.sqrt(u * u + (v / p("disc_elongation")) ** 2) / radius
            mass = mass * np.clip((rd - 0.8 * cdr) / 0.15, 0.0, 1.0)
            half = p("vessel_width") * (0.7 if kind == "artery" else 1.0)
            mass = mass * half * p("vessel_contrast") * (size * size / 2.0)
            out[kind] = (x.astype(np.float32), y.astype(np.float32), mass.astype(np.float32))
        return out

    # ------------------------------------------------------------------ image
    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        f = factors
        n = f["eye"].shape[0]
        y, x = grid(size)
        xs, ys = x[:, :1, :], y[:, :, :1]
        pixel = 2.0 / size

        # background: vignetting, choroidal texture, noise, darker macula with a dark fovea
        r2 = x * x + y * y
        shade = 1.0 - col(f["vignetting"]) * r2
        bank = _smooth_field(rng, 48, size, max(6, size // 4))
        shade += bank[rng.integers(0, 48, n)] * col(f["texture"])
        grain = rng.random((n, size, size), dtype=np.float32)
        grain -= 0.5
        grain *= col(f["noise"] * 3.4)
        shade += grain
        mx, my = self.macula_xy(f)
        gx, gy = (xs - col(mx)) ** 2, (ys - col(my)) ** 2
        macula = np.exp(-gx / 0.035) * np.exp(-gy / 0.035)
        fovea = np.exp(-gx / 0.0015) * np.exp(-gy / 0.0015)
        shade *= 1.0 - col(f["macula_darkness"]) * macula - 0.2 * fovea
        fov = np.clip((col(f["field_radius"]) - np.sqrt(r2)) / (0.5 * pixel + 0.01), 0.0, 1.0)
        shade *= fov

        # optic disc and its pale cup, from the squared normalised radius
        dx2 = ((xs - col(f["disc_x"])) / col(f["disc_radius"])) ** 2
        dy2 = ((ys - col(f["disc_y"])) / col(f["disc_radius"] * f["disc_elongation"])) ** 2
        rd2 = dx2 + dy2
        soft = 0.12 + pixel / col(f["disc_radius"])
        disc = np.clip((1.0 - rd2) / (2 * soft) + 0.5, 0.0, 1.0)
        cdr = col(f["cup_to_disc"])
        cup = np.clip((cdr * cdr - rd2) / (2 * cdr * soft) + 0.5, 0.0, 1.0)
        cup *= disc
        cup *= col(f["disc_pallor"] * f["exposure"])
        shade *= 1.0 - disc
        disc *= col(f["exposure"])

        # vessels: centre-line points splatted, then blurred to the vessel width
        points = self._vessel_points(f, size)
        width = max(points["vein"][0].shape[1], points["artery"][0].shape[1])
        vx, vy, mass = (
            np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in parts])
            for parts in zip(points["vein"], points["artery"], strict=True)
        )
        blur = _gaussian_matrix(size, max(0.4 * 0.018 * size, 0.5))
        vein_map, artery_map = _blur(_splat(vx, vy, mass, size), blur).reshape(2, n, size, size)
        vessels = {"vein": vein_map, "artery": artery_map}

        base = np.stack([f["red"], f["green"], f["blue"]], 1) * f["exposure"][:, None]
        out = np.empty((n, 3, size, size), np.float32)
        for c in range(3):
            ch = out[:, c]
            np.multiply(shade, col(base[:, c]), out=ch)
            ch += _RIM[c] * disc
            ch += (_CUP[c] - _RIM[c]) * cup
            absorb = _VEIN[c] * vessels["vein"]
            absorb += _ARTERY[c] * vessels["artery"]
            np.minimum(absorb, 0.95, out=absorb)
            ch -= ch * absorb

        # diabetic retinopathy lesions, only for the patients who have them
        dr = np.flatnonzero(f["dr_grade"] > 0)
        if dr.size:
            maps = self._lesion_maps({k: v[dr] for k, v in f.items()}, size, rng)
            sub = out[dr]
            inside = fov[dr] if fov.shape[0] == n else fov
            for c in range(3):
                for k, (_, colour, _) in enumerate(_LESIONS.values()):
                    if colour[c] < 0:  # red lesions absorb
                        sub[:, c] *= 1.0 + colour[c] * maps[k]
                    else:  # exudates and cotton-wool spots reflect
                        sub[:, c] += colour[c] * maps[k] * inside
            out[dr] = sub
        return np.clip(out, 0.0, 1.0, out=out)

    def _lesion_maps(self, f: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        """(4, m, size, size) maps of microaneurysms, haemorrhages, exudates, cotton-wool spots."""
        m = f["eye"].shape[0]
        mx, my = self.macula_xy(f)
        # posterior pole centre, between the macula and the disc
        px, py = 0.75 * mx + 0.25 * f["disc_x"], my
        contrast = f["lesion_contrast"]
        maps = np.zeros((4, m, size, size), np.float32)
        for k, (name, (radius, _, most)) in enumerate(_LESIONS.items()):
            count = f[f"{name}_count"]
            on = np.arange(most)[None, :] < count[:, None]
            if not on.any():
                continue
            if name == "exudate":
                angle = f["exudate_ring_angle"][:, None] + rng.normal(0.0, 0.9, (m, most))
                rho = f["exudate_ring_radius"][:, None] * rng.uniform(0.8, 1.2, (m, most))
                cx, cy = mx[:, None] + rho * np.cos(angle), my[:, None] + rho * np.sin(angle)
            elif name == "cotton_wool":
                toward = np.where(f["eye"] == 0, -1.0, 1.0)[:, None]
                along = rng.uniform(0.1, 0.7, (m, most))
                side = np.where(rng.random((m, most)) < 0.5, -1.0, 1.0)
                cx = f["disc_x"][:, None] + toward * along
                cy = f["disc_y"][:, None] + side * 0.38 * (1 - np.exp(-along / 0.15))
                cy = cy + rng.normal(0.0, 0.04, (m, most))
            else:
                angle = rng.uniform(0.0, 2 * np.pi, (m, most))
                rho = f["lesion_spread"][:, None] * np.sqrt(rng.random((m, most)))
                cx, cy = px[:, None] + rho * np.cos(angle), py[:, None] + 0.8 * rho * np.sin(angle)
            r = radius * rng.uniform(0.6, 1.4, (m, most))
            mass = on * contrast[:, None] * np.pi * (r * size / 2) ** 2
            sigma = max(0.8 * radius * size / 2, 0.6)
            maps[k] = _blur(_splat(cx, cy, mass, size), _gaussian_matrix(size, sigma))
        return np.minimum(maps, 1.0)

    # ------------------------------------------------------------------ reports
    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        keys = (
            "label",
            "eye",
            "cup_to_disc",
            "rim_notch",
            "dr_grade",
            "microaneurysm_count",
            "haemorrhage_count",
            "exudate_count",
            "cotton_wool_count",
            "exudate_distance_mm",
        )
        columns = [factors[k].tolist() for k in keys]
        classes = self.info.classes
        return [
            self._report(classes[int(row[0])], dict(zip(keys, row, strict=True)), rng)
            for row in zip(*columns, strict=True)
        ]

    def _report(self, cls: str, f: dict[str, float], rng: np.random.Generator) -> str:
        right = f["eye"] == 0
        eye = (
            pick(rng, ("right eye", "OD", "right eye (OD)"))
            if right
            else pick(rng, ("left eye", "OS", "left eye (OS)"))
        )
        cdr = float(f["cup_to_disc"])
        cdr_text = f"{cdr:.1f}" if rng.random() < 0.6 else f"{cdr:.2f}"
        s: list[str] = [
            pick(
                rng,
                (
                    f"colour photograph of the {eye}",
                    f"{eye}, macula-centred field",
                    f"fundus photograph, {eye}",
                    f"posterior pole of the {eye}",
                    f"{eye} imaged with a 45-degree field",
                ),
            )
        ]
        cdr_sentence = pick(
            rng,
            (
                f"cup-to-disc ratio {cdr_text}",
                f"vertical cup-to-disc ratio of {cdr_text}",
                f"C/D ratio {cdr_text}",
                f"CDR {cdr_text}",
                f"the cup-to-disc ratio measures {cdr_text}",
            ),
        )
        if cls == "glaucoma":
            s.append(cdr_sentence)
            s.append(
                pick(
                    rng,
                    (
                        "thinning of the neuroretinal rim consistent with glaucoma",
                        "glaucomatous optic disc cupping",
                        "enlarged optic cup with a thin neuroretinal rim",
                        "vessels bend sharply at the edge of a deep cup, suspicious for glaucoma",
                        "glaucomatous optic neuropathy with pale, excavated cup",
                        "increased cupping of the optic disc, glaucoma suspected",
                    ),
                )
            )
            if f["rim_notch"]:
                s.append(
                    pick(
                        rng, ("inferior notching of the rim", "focal notch of the neuroretinal rim")
                    )
                )
        else:
            if rng.random() < 0.7:
                s.append(cdr_sentence)
            if rng.random() < 0.6:
                s.append(
                    pick(
                        rng,
                        (
                            "healthy pink optic disc with sharp margins",
                            "optic disc healthy, neuroretinal rim intact",
                            "normal optic nerve head",
                            "disc margins are sharp with a healthy rim",
                        ),
                    )
                )
        if cls == "diabetic_retinopathy":
            s.extend(self._dr_sentences(f, rng))
        if cls == "normal":
            s.append(
                pick(
                    rng,
                    (
                        "normal fundus",
                        "macula flat with a normal foveal reflex",
                        "retina flat and attached, vessels of normal calibre",
                        "unremarkable posterior pole",
                        "normal retinal vasculature and macula",
                        "healthy-appearing fundus",
                    ),
                )
            )
        if cls != "diabetic_retinopathy" and rng.random() < (0.5 if cls == "normal" else 0.3):
            s.append(
                pick(
                    rng,
                    (
                        "no diabetic retinopathy",
                        "no haemorrhages or exudates",
                        "no microaneurysms",
                        "no signs of retinopathy",
                        "without hemorrhages or exudates",
                    ),
                )
            )
        if cls != "glaucoma" and rng.random() < (0.4 if cls == "normal" else 0.25):
            s.append(
                pick(
                    rng,
                    ("no glaucomatous cupping", "no evidence of glaucoma", "no optic disc cupping"),
                )
            )
        return join_report(self.info.prompt_name, s, rng)

    @staticmethod
    def _dr_sentences(f: dict[str, float], rng: np.random.Generator) -> list[str]:
        grade = int(f["dr_grade"])
        severity = ("mild", "moderate", "severe")[grade - 1]
        spelled = pick(rng, ("haemorrhages", "hemorrhages"))
        s = [
            pick(
                rng,
                (
                    f"{severity} non-proliferative diabetic retinopathy",
                    f"{severity} NPDR",
                    f"findings consistent with {severity} diabetic retinopathy",
                    f"diabetic retinopathy, {severity} non-proliferative stage",
                    f"{severity} background diabetic retinopathy",
                ),
            )
        ]
        ma, haem, exu, cws = (
            int(f[k])
            for k in (
                "microaneurysm_count",
                "haemorrhage_count",
                "exudate_count",
                "cotton_wool_count",
            )
        )
        if ma:
            few = "a few" if ma < 6 else pick(rng, ("scattered", "numerous", "multiple"))
            s.append(
                pick(
                    rng,
                    (
                        f"{few} microaneurysms",
                        f"{few} microaneurysms at the posterior pole",
                        f"{few} red dots (microaneurysms)",
                    ),
                )
            )
        if haem:
            where = (
                "in all four quadrants"
                if haem >= 9
                else pick(rng, ("", "around the macula", "at the posterior pole"))
            )
            s.append(f"{'scattered' if haem > 3 else 'a few'} dot-blot {spelled} {where}")
        if exu:
            mm = f"{float(f['exudate_distance_mm']):.1f} mm"
            s.append(
                pick(
                    rng,
                    (
                        f"hard exudates in a circinate ring {mm} from the fovea",
                        f"yellow hard exudates about {mm} from the foveal centre",
                        f"a partial ring of hard exudates around the macula at {mm}",
                    ),
                )
            )
        if cws:
            s.append(
                pick(
                    rng,
                    (
                        f"{cws} cotton-wool spots along the arcades",
                        "cotton-wool spots",
                        "soft exudates (cotton wool spots) near the arcades",
                    ),
                )
            )
        return s

    # ------------------------------------------------------------------ labeller
    def label_report(self, text: str) -> ReportLabels:
        found = {name for name, rx in _FINDING_PATTERNS.items() if asserted(text, rx)}
        measurements: dict[str, float] = {}
        m = _CDR.search(text)
        if m:
            ratio = float(m.group(1))
            measurements["cup_to_disc"] = ratio
            if ratio >= GLAUCOMA_THRESHOLD:
                found.add("glaucoma")
        m = _EXUDATE_MM.search(text)
        if m:
            measurements["exudate_distance_mm"] = float(m.group(1))
        return ReportLabels(modality="fundus", findings=frozenset(found), measurements=measurements)


_FINDING_PATTERNS = {
    "diabetic_retinopathy": re.compile(
        r"diabetic retinopathy|\bN?PDR\b|microaneurysms?|(?<!disc )(?<!splinter )\bha?emorrhages?"
        r"|\bhard exudates?|\bexudates\b|cotton[- ]?wool|soft exudates?|\bretinopathy\b"
        r"|intraretinal microvascular|\bIRMA\b|venous beading",
        re.IGNORECASE,
    ),
    "glaucoma": re.compile(
        r"glaucoma\w*|(increased|enlarged|deep|excavated|large) (optic )?(disc )?cup(ping)?"
        r"|(optic )?disc cupping|thin(ning|ned)?( of the)?( neuro)?retinal rim|rim (thinning|notch)"
        r"|notch(ing)? of the (neuro)?(retinal )?rim",
        re.IGNORECASE,
    ),
}
_CDR = re.compile(
    r"(?:cup[- ]to[- ]disc(?: ratio)?|\bc/d(?: ratio)?|\bCDR)\D{0,25}?(\d?\.\d+|[01](?:\.\d+)?)\b",
    re.IGNORECASE,
)
_EXUDATE_MM = re.compile(r"exudates?\D{0,60}?(\d+(?:\.\d+)?)\s*mm", re.IGNORECASE)
