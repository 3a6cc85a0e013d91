"""Macular spectral-domain OCT B-scans: normal, drusen, diabetic macular oedema, CNV.

The retina is a stack of reflective bands that follow one smooth curve (tilt, bowl curvature,
foveal pit). Every band boundary is a per-patient curve over the image columns, and each pixel is
the box-filtered sum of steps at those boundaries, so thin bright lines (ILM, ellipsoid zone, RPE)
keep their brightness at any image size. Findings change the stack itself (drusen lift the RPE
over moderately bright material, CNV adds subretinal fluid, bright material and sometimes a
pigment epithelial detachment, DME thickens the nuclear layers and flattens the pit) or are drawn
on top (dark cystoid spaces). Multiplicative speckle, a noise floor, vessel shadows and lateral
signal fall-off are the acquisition nuisances.

Geometry: x spans a 6 mm scan (3 mm per unit); y is displayed stretched, 800 micrometres per unit.
"""

from __future__ import annotations

import re

import numpy as np

from synthbench.data.phantoms._base import Factors, ModalityInfo, PhantomModality, ReportLabels
from synthbench.data.phantoms._common import col, grid, lerp, soft_ellipse
from synthbench.data.phantoms._text import (
    asserted,
    first_size_mm,
    join_report,
    pick,
)

MM_PER_UNIT_X = 3.0
UM_PER_UNIT_Y = 800.0
MAX_DRUSEN = 6
MAX_CYSTS = 6
MAX_VESSELS = 3

# reflectivity of each band, top to bottom (display scale, before speckle and gain)
_VITREOUS, _ILM, _NFL, _GCL, _INL, _OPL, _ONL = 0.03, 0.85, 0.68, 0.42, 0.17, 0.5, 0.1
_EZ, _IZ, _SRF, _SHRM, _RPE = 0.72, 0.3, 0.04, 0.78, 0.97
# fixed band thicknesses (units of y)
_T_ILM, _T_OPL, _T_EZ, _T_IZ, _T_RPE = 0.014, 0.03, 0.022, 0.018, 0.04


def _dome(x: np.ndarray, cx: np.ndarray, half_width: np.ndarray, power: float) -> np.ndarray:
    u = np.clip(1.0 - ((x - cx) / np.maximum(half_width, 1e-6)) ** 2, 0.0, 1.0)
    return u**power


class OCT(PhantomModality):
    """Retinal OCT B-scan phantom with Kermany-style classes (normal, drusen, DME, CNV)."""

    info = ModalityInfo(
        name="oct",
        prompt_name="OCT",
        channels=1,
        classes=("normal", "drusen", "dme", "cnv"),
        findings=("drusen", "dme", "cnv"),
        description="macular SD-OCT B-scan: retinal bands, foveal pit, speckle",
    )

    # ------------------------------------------------------------------ factors
    def sample_factors(
        self, rng: np.random.Generator, labels: np.ndarray, findings: np.ndarray, difficulty: float
    ) -> Factors:
        n = labels.shape[0]
        u = rng.uniform
        drusen, dme, cnv = (labels == 1), (labels == 2), (labels == 3)
        # how overt the finding is: shrinks with difficulty, varies between patients
        conspicuity = lerp(1.35, 0.3, difficulty) * np.exp(rng.normal(0.0, 0.3, n))
        conspicuity = np.clip(conspicuity, 0.12, 1.8)
        f: Factors = {
            "label": labels.astype(np.int64),
            "eye": rng.integers(0, 2, n),  # 0 right (OD), 1 left (OS)
            "rpe_y": u(0.12, 0.32, n),
            "curvature": u(-0.06, 0.2, n),
            "tilt": u(-0.14, 0.14, n),
            "fovea_x": u(-0.22, 0.22, n),
            "pit_depth": u(0.6, 0.95, n),
            "pit_width": u(0.13, 0.22, n),
            "inner_thickness": u(0.24, 0.33, n),
            "onl_thickness": u(0.09, 0.13, n),
            "nfl_thickness": u(0.025, 0.06, n),
            "choroid_thickness": u(0.18, 0.4, n),
            "choroid_brightness": u(0.22, 0.45, n),
            "gain": u(0.75, 1.2, n),
            "contrast": u(0.75, 1.25, n),
            "noise_floor": u(0.0, 0.08, n),
            "speckle_sigma": u(0.3, 0.7, n),
            "lateral_falloff": u(-0.35, 0.35, n),
            "conspicuity": conspicuity * (labels > 0),
        }
        for k in range(MAX_VESSELS):
            f[f"vessel_x{k}"] = u(-0.95, 0.95, n)
            f[f"vessel_shadow{k}"] = u(0.0, 0.6, n) * (rng.random(n) < 0.8)

        # drusen: domes of the RPE with moderately bright material beneath
        count = np.where(drusen, rng.integers(1, MAX_DRUSEN + 1, n), 0)
        f["drusen_count"] = count
        f["drusen_brightness"] = u(0.4, 0.65, n)
        for k in range(MAX_DRUSEN):
            on = k < count
            f[f"drusen_x{k}"] = np.where(on, f["fovea_x"] + u(-0.65, 0.65, n), 0.0)
            f[f"drusen_half_width{k}"] = np.where(on, u(0.05, 0.16, n), 0.0)
            f[f"drusen_height{k}"] = np.where(on, u(0.035, 0.1, n) * conspicuity, 0.0)

        # DME: thickening, loss of the pit, dark cystoid spaces in the nuclear layers
        oedema = np.where(dme, u(0.4, 1.0, n) * np.minimum(conspicuity, 1.3), 0.0)
        f["oedema"] = oedema
        f["pit_depth"] = f["pit_depth"] * (1.0 - np.clip(oedema, 0.0, 1.0) * 0.85)
        cysts = np.where(dme, rng.integers(1, MAX_CYSTS + 1, n), 0)
        f["cyst_count"] = cysts
        f["cyst_darkness"] = np.where(dme, np.clip(u(0.7, 1.1, n) * conspicuity, 0.0, 0.95), 0.0)
        for k in range(MAX_CYSTS):
            on = k < cysts
            f[f"cyst_x{k}"] = np.where(on, f["fovea_x"] + u(-0.4, 0.4, n), 0.0)
            f[f"cyst_depth{k}"] = np.where(on, u(0.15, 0.85, n), 0.0)  # 0 INL top .. 1 ONL bottom
            f[f"cyst_radius{k}"] = np.where(on, u(0.045, 0.11, n) * (0.5 + 0.5 * oedema), 0.0)
            f[f"cyst_aspect{k}"] = np.where(on, u(0.7, 1.5, n), 1.0)

        # CNV: subretinal fluid dome, bright subretinal material, sometimes a PED
        f["cnv_x"] = np.where(cnv, f["fovea_x"] + u(-0.25, 0.25, n), 0.0)
        f["cnv_half_width"] = np.where(cnv, u(0.2, 0.45, n), 0.0)
        f["srf_height"] = np.where(cnv, u(0.05, 0.16, n) * conspicuity, 0.0)
        f["shrm_height"] = np.where(cnv, u(0.025, 0.08, n) * conspicuity, 0.0)
        f["shrm_phase"] = u(0.0, 2 * np.pi, n)
        f["ped"] = (cnv & (rng.random(n) < 0.4)).astype(np.int64)
        f["ped_height"] = np.where(f["ped"] == 1, u(0.05, 0.14, n) * conspicuity, 0.0)

        # what a reader would measure: largest lesion extent (mm), central subfield thickness
        widths = np.stack([f[f"drusen_half_width{k}"] for k in range(MAX_DRUSEN)], 1)
        cyst_w = np.stack(
            [f[f"cyst_radius{k}"] * f[f"cyst_aspect{k}"] for k in range(MAX_CYSTS)], 1
        )
        size_mm = np.select(
            [drusen, dme, cnv],
            [widths.max(1), cyst_w.max(1), f["cnv_half_width"]],
            0.0,
        ) * (2 * MM_PER_UNIT_X)
        f["lesion_size_mm"] = np.round(np.maximum(size_mm, 0.1 * (labels > 0)), 1)
        f["central_thickness_um"] = np.round(self._central_thickness(f) * UM_PER_UNIT_Y)
        return f

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def _pit(f: Factors, x: np.ndarray, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        fx, pw = f["fovea_x"].reshape(shape), f["pit_width"].reshape(shape) * scale
        return np.exp(-(((x - fx) / pw) ** 2))

    def _central_thickness(self, f: Factors) -> np.ndarray:
        b = self._boundaries(f, f["fovea_x"][:, None], (-1, 1))
        return (b["bm"] - b["ilm"])[:, 0]

    def _boundaries(
        self, f: Factors, x: np.ndarray, shape: tuple[int, ...]
    ) -> dict[str, np.ndarray]:
        """Band boundaries (y, top to bottom) at columns ``x``; factors reshaped to ``shape``."""

        def c(name: str) -> np.ndarray:
            return f[name].reshape(shape).astype(np.float32)

        fx = c("fovea_x")
        side = np.where(c("eye") == 0, 1.0, -1.0)  # optic nerve to the image right in a right eye
        pit = self._pit(f, x, shape)
        wide = self._pit(f, x, shape, 2.6)
        oedema = c("oedema")

        bm = c("rpe_y") - c("curvature") * x**2 + c("tilt") * x
        lift = np.zeros_like(bm + x)
        for k in range(MAX_DRUSEN):
            lift = lift + c(f"drusen_height{k}") * _dome(
                x, c(f"drusen_x{k}"), c(f"drusen_half_width{k}"), 0.8
            )
        cx, hw = c("cnv_x"), c("cnv_half_width")
        lift = lift + c("ped_height") * _dome(x, cx, hw * 0.65, 0.8)
        ragged = 0.65 + 0.35 * np.sin(x * 23.0 + c("shrm_phase")) * np.sin(x * 9.0)
        shrm = c("shrm_height") * _dome(x, cx + 0.03, hw * 0.7, 0.7) * ragged
        srf = c("srf_height") * _dome(x, cx, hw, 0.6)

        b: dict[str, np.ndarray] = {"bm": bm}
        b["rpe_bottom"] = bm - lift
        b["rpe_top"] = b["rpe_bottom"] - _T_RPE
        b["shrm_top"] = b["rpe_top"] - shrm
        b["srf_top"] = b["shrm_top"] - srf
        b["iz_top"] = b["srf_top"] - _T_IZ
        b["ez_top"] = b["iz_top"] - _T_EZ
        onl = c("onl_thickness") * (1.0 + 0.45 * pit) + 0.12 * oedema * wide
        b["onl_top"] = b["ez_top"] - onl
        b["opl_top"] = b["onl_top"] - _T_OPL
        inner = c("inner_thickness") - c("nfl_thickness")
        keep = 1.0 - c("pit_depth") * pit
        b["inl_top"] = b["opl_top"] - inner * 0.42 * keep - 0.1 * oedema * wide
        b["gcl_top"] = b["inl_top"] - inner * 0.58 * keep
        nfl = c("nfl_thickness") * np.clip(1.0 + 0.9 * side * (x - fx), 0.3, 2.2) * (1.0 - pit)
        b["nfl_top"] = b["gcl_top"] - nfl
        b["ilm"] = b["nfl_top"] - _T_ILM
        return b

    # ------------------------------------------------------------------ image
    def render(self, factors: Factors, size: int, rng: np.random.Generator) -> np.ndarray:
        f = factors
        n = f["eye"].shape[0]
        y, x = grid(size)
        # work in (row, patient, column) order: boundaries vary by patient and column only, so
        # every step below broadcasts over whole contiguous rows
        xs = x[0, :1, :][None]  # (1, 1, W)
        ys = y[0, :, :1][:, :, None]  # (H, 1, 1)

        def per_patient(v: np.ndarray) -> np.ndarray:
            return np.asarray(v, np.float32).reshape(1, -1, 1)

        b = {k: v.reshape(1, n, size) for k, v in self._boundaries(f, xs, (-1, 1, 1)).items()}
        # edge width: one pixel (box filter) plus a little axial blur
        inv_w = np.float32(1.0 / (2.0 / size + 0.008))
        y_scaled = ys * inv_w

        def step(boundary: np.ndarray) -> np.ndarray:
            t = y_scaled - (boundary * inv_w - 0.5)
            return np.clip(t, 0.0, 1.0, out=t)

        chor = per_patient(f["choroid_brightness"])
        sub_rpe = per_patient(np.where(f["ped"] == 1, 0.06, f["drusen_brightness"]))
        # (boundary, value below it minus value above it)
        stack = [
            ("ilm", _ILM - _VITREOUS),
            ("nfl_top", _NFL - _ILM),
            ("gcl_top", _GCL - _NFL),
            ("inl_top", _INL - _GCL),
            ("opl_top", _OPL - _INL),
            ("onl_top", _ONL - _OPL),
            ("ez_top", _EZ - _ONL),
            ("iz_top", _IZ - _EZ),
            ("srf_top", _SRF - _IZ),
            ("shrm_top", _SHRM - _SRF),
            ("rpe_top", _RPE - _SHRM),
            ("rpe_bottom", sub_rpe - _RPE),
            ("bm", chor - sub_rpe),
        ]
        img = np.full((size, n, size), _VITREOUS, np.float32)
        for name, dv in stack:
            t = step(b[name])
            t *= np.float32(dv) if np.isscalar(dv) else dv
            img += t
        # choroid fades with depth over its own thickness
        ct = per_patient(f["choroid_thickness"])
        fade = np.clip((ys - b["bm"] - 0.15 * ct) / (0.85 * ct), 0.0, 1.0)
        fade *= chor - 0.02
        img -= fade

        # vessel shadows below the inner retina, lateral signal fall-off
        shadow = np.zeros((1, n, size), np.float32)
        for k in range(MAX_VESSELS):
            d = (xs - per_patient(f[f"vessel_x{k}"])) / 0.035
            shadow += per_patient(f[f"vessel_shadow{k}"]) * np.exp(-(d**2))
        shade = step(b["gcl_top"])
        shade *= np.minimum(shadow, 0.8)
        img *= 1.0 + per_patient(f["lateral_falloff"]) * xs
        img -= shade * img

        # dark cystoid spaces in the nuclear layers (DME patients only)
        dme = np.flatnonzero(f["cyst_count"] > 0)
        if dme.size:
            sub = {k: v[dme] for k, v in f.items()}
            keep = np.ones((dme.size, size, size), np.float32)
            for k in range(MAX_CYSTS):
                cx = sub[f"cyst_x{k}"]
                bk = self._boundaries(sub, cx[:, None], (-1, 1))
                top, bottom = bk["inl_top"][:, 0], bk["ez_top"][:, 0]
                cy = top + sub[f"cyst_depth{k}"] * (bottom - top)
                r = sub[f"cyst_radius{k}"]
                cyst = soft_ellipse(y, x, cy, cx, r, r * sub[f"cyst_aspect{k}"], edge=0.3)
                keep *= 1.0 - cyst * col(sub["cyst_darkness"] * (k < sub["cyst_count"]))
            img[:, dme] *= keep.transpose(1, 0, 2)

        # acquisition: noise floor, multiplicative speckle, then contrast and gain in one affine
        img += per_patient(f["noise_floor"])
        speckle = rng.standard_normal((size, n, size), dtype=np.float32)
        speckle *= per_patient(f["speckle_sigma"])
        speckle += 1.0
        img *= np.abs(speckle, out=speckle)
        gain, contrast = f["gain"], f["contrast"]
        img *= per_patient(gain * contrast)
        img += per_patient(gain * 0.3 * (1.0 - contrast))
        np.clip(img, 0.0, 1.0, out=img)
        return np.ascontiguousarray(img.transpose(1, 0, 2))[:, None]

    # ------------------------------------------------------------------ reports
    def write_reports(self, factors: Factors, rng: np.random.Generator) -> list[str]:
        keys = ("label", "eye", "lesion_size_mm", "central_thickness_um", "drusen_count", "ped")
        columns = [factors[k].tolist() for k in keys]
        classes = self.info.classes
        return [
            self._report(classes[int(row[0])], dict(zip(keys, row, strict=True)), rng)
            for row in zip(*columns, strict=True)
        ]

    def _report(self, cls: str, f: dict[str, float], rng: np.random.Generator) -> str:
        eye = (
            pick(rng, ("right eye", "OD", "right eye (OD)"))
            if f["eye"] == 0
            else pick(rng, ("left eye", "OS", "left eye (OS)"))
        )
        size = f"{float(f['lesion_size_mm']):.1f} mm"
        cst = int(f["central_thickness_um"])
        um = pick(rng, ("µm", "um", "microns"))
        s: list[str] = []
        s.append(
            pick(
                rng,
                (
                    f"macular B-scan of the {eye}",
                    f"{eye}: horizontal scan through the fovea",
                    f"SD-OCT of the macula, {eye}",
                    f"line scan through the macula of the {eye}",
                    f"{eye} macular cube, central B-scan",
                ),
            )
        )
        if rng.random() < 0.6:
            s.append(
                pick(
                    rng,
                    (
                        f"central subfield thickness {cst} {um}",
                        f"CST {cst} {um}",
                        f"central macular thickness of {cst} {um}",
                        f"central retinal thickness measures {cst} {um}",
                    ),
                )
            )
        if cls == "normal":
            s.append(
                pick(
                    rng,
                    (
                        "foveal contour preserved",
                        "normal foveal depression",
                        "the foveal pit is well formed",
                        "normal foveal contour and retinal lamination",
                        "retinal layers are intact and well delineated",
                        "normal macular architecture",
                    ),
                )
            )
            if rng.random() < 0.5:
                s.append(
                    pick(
                        rng,
                        (
                            "RPE line continuous and smooth",
                            "intact ellipsoid zone and RPE",
                            "outer retinal bands intact",
                        ),
                    )
                )
        elif cls == "drusen":
            n_drusen = int(f["drusen_count"])
            many = (
                "a single druse"
                if n_drusen == 1
                else pick(rng, ("multiple drusen", "several drusen", f"{n_drusen} drusen"))
            )
            s.append(
                pick(
                    rng,
                    (
                        f"{many} elevating the RPE, the largest {size} wide",
                        f"dome-shaped RPE elevations consistent with drusen, up to {size} in width",
                        f"{many} beneath the retinal pigment epithelium measuring up to {size}",
                        f"drusen with moderately reflective material under an intact RPE band, largest {size}",
                        f"RPE elevation from drusen (largest {size}), consistent with dry age-related macular degeneration",
                        f"undulating RPE with {many}, maximal width {size}",
                    ),
                )
            )
            if rng.random() < 0.5:
                s.append(
                    pick(
                        rng,
                        ("foveal contour preserved", "RPE line remains continuous", "no atrophy"),
                    )
                )
        elif cls == "dme":
            s.append(
                pick(
                    rng,
                    (
                        f"intraretinal cysts in the inner and outer nuclear layers, the largest {size}",
                        f"cystoid macular oedema with hyporeflective spaces up to {size}",
                        f"diabetic macular edema: intraretinal fluid with cystoid spaces up to {size} and retinal thickening",
                        f"multiple intraretinal cystoid spaces (largest {size}) with loss of the foveal contour",
                        f"DME with intraretinal fluid, cysts measuring up to {size}",
                        f"cystic changes of the nuclear layers, maximum diameter {size}, consistent with diabetic macular oedema",
                    ),
                )
            )
            if rng.random() < 0.5:
                s.append(
                    pick(
                        rng,
                        (
                            "loss of the foveal depression",
                            "diffuse retinal thickening",
                            "the foveal contour is flattened",
                        ),
                    )
                )
        else:
            ped = bool(f["ped"])
            s.append(
                pick(
                    rng,
                    (
                        f"subretinal hyperreflective material with subretinal fluid over {size}, consistent with choroidal neovascularisation",
                        f"active CNV: subretinal fluid and SHRM spanning {size}",
                        f"neovascular membrane above the RPE with a dome of subretinal fluid, lesion width {size}",
                        f"choroidal neovascularization with overlying subretinal fluid, extent {size}",
                        f"wet AMD: hyperreflective subretinal material and subretinal fluid across {size}",
                        f"exudative maculopathy with subretinal fluid ({size}) over a neovascular complex",
                    ),
                )
            )
            if ped:
                s.append(
                    pick(
                        rng,
                        (
                            "fibrovascular pigment epithelial detachment",
                            "associated PED",
                            "the RPE is lifted by a fibrovascular PED",
                        ),
                    )
                )
        # negations of absent findings, sometimes
        negations = {
            "drusen": ("no drusen", "no RPE elevation", "RPE smooth without drusen"),
            "dme": (
                "no intraretinal cysts",
                "no intraretinal fluid",
                "no cystoid macular oedema",
                "without intraretinal fluid",
            ),
            "cnv": (
                "no subretinal fluid",
                "no CNV",
                "no subretinal hyperreflective material",
                "no evidence of choroidal neovascularization",
            ),
        }
        for name, options in negations.items():
            if name != cls and rng.random() < (0.55 if cls == "normal" else 0.3):
                s.append(pick(rng, options))
        return join_report(self.info.prompt_name, s, rng)

    # ------------------------------------------------------------------ labeller
    def label_report(self, text: str) -> ReportLabels:
        found = {name for name, rx in _FINDING_PATTERNS.items() if asserted(text, rx)}
        measurements: dict[str, float] = {}
        size = first_size_mm(text)
        if size is not None:
            measurements["size_mm"] = size
        m = _THICKNESS.search(text)
        if m:
            measurements["central_thickness_um"] = float(m.group(1))
        return ReportLabels(modality="oct", findings=frozenset(found), measurements=measurements)


_FINDING_PATTERNS = {
    "drusen": re.compile(
        r"\bdrusen\w*|\bdruse\b|\bRPE elevations?\b|elevations? of the (RPE|retinal pigment epithelium)"
        r"|dry (age-related macular degeneration|AMD)",
        re.IGNORECASE,
    ),
    "dme": re.compile(
        r"intraretinal (fluid|cysts?|cystoid)|cystoid (macular )?(o?edema|spaces?|changes)"
        r"|\bcystic (spaces?|changes)|macular o?edema|\bDME\b|\bCME\b|\bCSME\b"
        r"|retinal thickening|thickened retina",
        re.IGNORECASE,
    ),
    "cnv": re.compile(
        r"choroidal neovasc\w*|\bCNVM?\b|neovascular (membrane|complex|AMD|age)|\bwet (AMD|age)"
        r"|subretinal (fluid|hyperreflective material)|\bSRF\b|\bSHRM\b"
        r"|(?<!drusenoid )\b(pigment epithelial detachment|PED)\b|exudative (AMD|age|maculopathy)",
        re.IGNORECASE,
    ),
}
_THICKNESS = re.compile(
    r"thickness\D{0,30}?(\d{2,4})\s*(µm|um|microns?|micrometres?)", re.IGNORECASE
)
