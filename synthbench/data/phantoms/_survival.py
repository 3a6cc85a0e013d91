"""Survival times from a proportional-hazards model with censoring.

The hazard depends on the biomarker status alone, ``h(t | x) = h0 * HR**x`` with an exponential
baseline, so a univariate Cox model on the true status recovers ``HR`` (the simulator's truth).
Censoring is administrative (end of follow-up, uniform accrual) plus random loss to follow-up.
"""

from __future__ import annotations

import numpy as np


def simulate_survival(
    rng: np.random.Generator,
    status: np.ndarray,
    hazard_ratio: float,
    baseline_median_months: float = 12.0,
    follow_up_months: tuple[float, float] = (24.0, 60.0),
    loss_rate_per_month: float = 0.005,
) -> tuple[np.ndarray, np.ndarray]:
    """Progression-free survival time (months) and event indicator per patient.

    ``status`` is 1.0 (biomarker positive), 0.0 (negative) or nan (not applicable: no tumour);
    nan patients get time nan and event -1.
    """
    status = np.asarray(status, dtype=np.float64)
    n = status.shape[0]
    applicable = ~np.isnan(status)
    x = np.where(applicable, status, 0.0)
    rate = np.log(2.0) / baseline_median_months * hazard_ratio**x
    event_time = rng.exponential(1.0, n) / rate
    admin = rng.uniform(*follow_up_months, n)
    loss = rng.exponential(1.0 / loss_rate_per_month, n) if loss_rate_per_month > 0 else np.inf
    censor_time = np.minimum(admin, loss)
    time = np.minimum(event_time, censor_time)
    event = (event_time <= censor_time).astype(np.int8)
    time = np.where(applicable, time, np.nan)
    event = np.where(applicable, event, -1).astype(np.int8)
    return time, event
