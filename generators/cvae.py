"""``cvae``: a conditional variational autoencoder, one model per data set (label-conditioned).

>>> from synthbench.generators.cvae import CVAEConfig
>>> CVAEConfig.for_profile("smoke").latent_dim
8

A small convolutional encoder and decoder; the class (one per (modality, label) of the training
data) enters both through a learned embedding, and the decoder's residual refinement blocks
(``refine_blocks`` after each upsampling) through per-class norm scales and shifts. Without
those blocks (the setting of checkpoints written before them) the quick model's samples of OCT
normal and drusen were judged as asked 29% and 44% of the time, with two blocks 88% and 62%
(``benchmarks/perf/conditioning.py``). Sampling decodes ``z ~ N(0, T^2 I)`` with the requested
class (``temperature`` T) or, with ``latent_mixture`` (the quick default: 60 components), draws
``z`` from a Gaussian mixture fitted after training to each class's training encodings, its
noise scaled by T (0.6 by default; ex-post density estimation as in Ghosh et al. 2020). With a
weak KL term (``beta`` 0.1) the encodings keep the lesions (reconstructions of real B-scans
were judged as their class about as often as the real ones) but no longer fill ``N(0, I)``; the
mixtures give the decoder latents like those it learned from.
Weights are saved as ``cvae/model.safetensors`` beside ``cvae/config.json`` (and the mixtures,
with ``latent_mixture``, as ``cvae/latent_mixture.safetensors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from synthbench.config import ConfigVersion
from synthbench.generators.base import Capabilities, load_safetensors, save_safetensors
from synthbench.generators.neural import (
    LatentConfig,
    LatentLabelGenerator,
    bottleneck_size,
    class_scale_shift,
    embed_codes,
    labelled_images,
    n_parameters,
)

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class CVAEConfig(LatentConfig):
    """Defaults are the ``quick`` profile."""

    widths: tuple[int, ...] = (32, 64)
    latent_dim: int = 32
    beta: float = 0.1
    #: sampling draws the latent noise at this scale (the truncation trick; see
    #: ``LatentConfig``)
    temperature: float = 0.6
    #: class-conditioned residual blocks (3x3 convolutions; group norm whose scale and shift
    #: come from the class) after each of the decoder's upsamplings, so the class shapes the
    #: image at every scale and not only through the latent
    refine_blocks: int = 2
    #: components of a Gaussian mixture (full covariance) fitted after training to each
    #: condition's training encodings (posterior means), sampled instead of the prior
    #: (ex-post density estimation, Ghosh et al. 2020): where the encodings do not fill the
    #: prior, the decoder is still given latents like those it learned from; 0 samples the
    #: prior. The mixtures are saved beside the weights
    latent_mixture: int = 60
    lr: float = 1e-3
    warmup_steps: int = 20

    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        ConfigVersion(1, added={"temperature": 1.0, "refine_blocks": 0, "latent_mixture": 0}),
        ConfigVersion(
            2,
            removed={
                "class_prior": False,
                "class_consistency": 0.0,
                "consistency_noise": 0.0,
                "adversarial": 0.0,
            },
            note="experiment options, last in commit 81a3ccc; findings in docs/conditioning.md",
        ),
    )

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "widths": (8, 16),
            "latent_dim": 8,
            "steps": 30,
            "batch_size": 16,
            "checkpoint_every": 0,
            "warmup_steps": 5,
        },
        "quick": {"steps": 6000},
        "standard": {
            "widths": (64, 128, 256),
            "latent_dim": 128,
            "steps": 20_000,
            "batch_size": 128,
        },
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        # beta weighs the KL term: negative would reward encodings far from the prior
        self.require_non_negative("beta", "latent_mixture", "refine_blocks")


def build_cvae(
    channels: int,
    size: int,
    n_classes: int,
    widths: tuple[int, ...],
    latent: int,
    refine_blocks: int = 0,
) -> Any:
    """The network; a function so the architecture is rebuilt from JSON on load."""
    import torch
    from torch import nn

    low = bottleneck_size("cvae", size, len(widths))

    class RefineBlock(nn.Module):
        """``h + conv(silu(classnorm(conv(silu(classnorm(h))))))``; the second convolution
        starts at zero, so a new block begins as the identity."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.norms = nn.ModuleList([nn.GroupNorm(min(8, c), c, affine=False) for _ in range(2)])
            self.scale = nn.Parameter(torch.ones(2, n_classes, c))
            self.shift = nn.Parameter(torch.zeros(2, n_classes, c))
            self.convs = nn.ModuleList([nn.Conv2d(c, c, 3, 1, 1) for _ in range(2)])
            nn.init.zeros_(self.convs[1].weight)
            nn.init.zeros_(self.convs[1].bias)

        def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            out = h
            for i in range(2):
                normed = class_scale_shift(self.norms[i](out), self.scale[i], self.shift[i], y)
                out = self.convs[i](nn.functional.silu(normed))
            return h + out

    class CVAENet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c_in = channels
            for w in widths:
                layers += [nn.Conv2d(c_in, w, 4, 2, 1), nn.GroupNorm(min(8, w), w), nn.SiLU()]
                c_in = w
            self.encoder = nn.Sequential(*layers, nn.Flatten())
            flat = widths[-1] * low * low
            self.embed = nn.Embedding(n_classes, 32)
            self.to_stats = nn.Linear(flat + 32, 2 * latent)
            self.from_latent = nn.Linear(latent + 32, flat)
            up: list[nn.Module] = []
            rev = list(reversed(widths))
            for a, b in zip(rev, [*rev[1:], None]):
                if b is None:
                    # the last upsampling keeps its width for the refinement blocks (if any)
                    # and a 3x3 convolution then makes the image
                    up += [nn.ConvTranspose2d(a, a if refine_blocks else channels, 4, 2, 1)]
                    up += [RefineBlock(a) for _ in range(refine_blocks)]
                    up += [nn.SiLU(), nn.Conv2d(a, channels, 3, 1, 1)] if refine_blocks else []
                else:
                    up += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.GroupNorm(min(8, b), b), nn.SiLU()]
                    up += [RefineBlock(b) for _ in range(refine_blocks)]
            # a ModuleList (not Sequential) so the refinement blocks can take the class; the
            # indices, and so the state keys, are those of the earlier Sequential
            self.decoder = nn.ModuleList(up)

        def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            stats = self.to_stats(
                torch.cat([self.encoder(x), embed_codes(self.embed.weight, y)], 1)
            )
            mu, logvar = stats.chunk(2, dim=1)
            return mu, logvar.clamp(-10, 10)

        def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            h = self.from_latent(torch.cat([z, embed_codes(self.embed.weight, y)], 1))
            h = h.view(len(z), widths[-1], low, low)
            for layer in self.decoder:
                h = layer(h, y) if isinstance(layer, RefineBlock) else layer(h)
            return torch.tanh(h)

    return CVAENet()


class CVAE(LatentLabelGenerator):
    """Conditional VAE (see the module docstring)."""

    name = "cvae"
    Config = CVAEConfig
    capabilities = Capabilities(conditioning="label", trains=True)
    config: CVAEConfig

    def _build_network(self, arch: dict[str, Any]) -> torch.nn.Module:
        return build_cvae(**arch)

    def _arch(self) -> dict[str, Any]:
        return {**super()._arch(), "refine_blocks": self.config.refine_blocks}

    def _decode(self, z: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.config.latent_mixture:
            return self.net_.decode(sample_mixture(self.mixture_, z, y, generator), y)
        return self.net_.decode(z, y)  # the prior N(0, I), ``z`` scaled by the temperature

    def _save_state(self, path: Path) -> None:
        super()._save_state(path)
        if self.config.latent_mixture:
            save_safetensors(self.mixture_, path / self.name / MIXTURE_FILE)

    def _load_state(self, path: Path) -> None:
        super()._load_state(path)
        if self.config.latent_mixture:
            self.mixture_ = load_safetensors(path / self.name / MIXTURE_FILE)
            arch = self._arch()
            check_mixture(
                self.mixture_,
                arch["latent"],
                arch["n_classes"],
                path / self.name / MIXTURE_FILE,
            )

    def _fit_latent_mixture(self, data: dict[str, torch.Tensor], *, seed: int) -> None:
        """Fit the ``latent_mixture`` components of each condition to the trained network's
        encodings of its training ``data`` (from :func:`labelled_images`)."""
        import torch

        with torch.no_grad():
            mu = torch.cat(
                [
                    self.net_.encode(x, y)[0]
                    for x, y in zip(data["x"].split(256), data["y"].split(256))
                ]
            )
        self.mixture_ = fit_mixtures(mu, data["y"], self.config.latent_mixture, seed)

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        import torch

        torch.manual_seed(seed)  # weight init only (``fit`` restores the caller's random state)
        arch = self._arch()
        net = self._network(arch)
        data = labelled_images(self._require_fit(), train, arch["channels"])
        beta = self.config.beta

        def loss_fn(ctx: Any) -> torch.Tensor:
            idx = ctx.indices.to(ctx.device)
            x, y = data["x"][idx], data["y"][idx]
            model = ctx.modules["cvae"]
            mu, logvar = model.encode(x, y)
            eps = torch.randn(mu.shape, generator=ctx.generator, device=ctx.device)
            recon = model.decode(mu + eps * (0.5 * logvar).exp(), y)
            rec = (recon.float() - x).pow(2).flatten(1).sum(1).mean()
            prior = torch.zeros(mu.shape, device=mu.device)  # N(0, I): mean and log-variance 0
            kl = gaussian_kl(mu.float(), logvar.float(), prior, prior).sum(1).mean()
            # per-pixel scale keeps the learning rate meaningful across image sizes
            return (rec + beta * kl) / x[0].numel()

        result, ema = self._train({"cvae": net}, loss_fn, len(train), data, seed=seed)
        self.net_ = ema["cvae"].cpu().eval()
        if self.config.latent_mixture:
            self._fit_latent_mixture(data, seed=seed)
        return {**result.summary(), "parameters": n_parameters(net)}


MIXTURE_FILE = "latent_mixture.safetensors"


def fit_mixtures(
    encodings: torch.Tensor, codes: torch.Tensor, components: int, seed: int
) -> dict[str, torch.Tensor]:
    """One Gaussian mixture (full covariance, scikit-learn's EM) per distinct condition row of
    ``codes`` (m rows) over its ``encodings`` (n, d); a condition gets at most one component per
    two encodings (unused components weigh 0), one with a single encoding a unit Gaussian
    around it. Returns
    ``codes`` (m, slots), ``weights`` (m, k), ``means`` (m, k, d) and ``scales`` (m, k, d, d),
    the covariances' Cholesky factors."""
    import numpy as np
    import torch
    from sklearn.mixture import GaussianMixture

    z = encodings.detach().double().cpu().numpy()
    rows, inverse = np.unique(codes.cpu().numpy(), axis=0, return_inverse=True)
    m, d = len(rows), z.shape[1]
    weights, means = np.zeros((m, components)), np.zeros((m, components, d))
    scales = np.tile(np.eye(d), (m, components, 1, 1))
    for g in range(m):
        own = z[inverse.reshape(-1) == g]
        k = max(1, min(components, len(own) // 2))
        if len(own) < 2:  # one encoding: a unit Gaussian around it
            weights[g, 0], means[g, 0] = 1.0, own[0]
            continue
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed)
        gmm.fit(own)
        weights[g, :k], means[g, :k] = gmm.weights_, gmm.means_
        scales[g, :k] = np.linalg.cholesky(gmm.covariances_)
    return {
        name: torch.from_numpy(np.ascontiguousarray(v)).float()
        for name, v in (("codes", rows), ("weights", weights), ("means", means), ("scales", scales))
    }


def sample_mixture(
    mixture: dict[str, torch.Tensor], z: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Latents from the mixtures of :func:`fit_mixtures` for condition codes ``y`` (n, slots):
    each row takes the mixture of the nearest training condition (L1 distance between codes),
    draws a component by weight with ``generator``, and maps its noise ``z`` (n, d) through
    the component's mean and Cholesky factor."""
    import torch

    group = torch.cdist(y.float(), mixture["codes"], p=1).argmin(1)
    comp = torch.multinomial(mixture["weights"][group], 1, generator=generator).squeeze(1)
    mean, scale = mixture["means"][group, comp], mixture["scales"][group, comp]
    return mean + (scale @ z.unsqueeze(2)).squeeze(2)


def check_mixture(mixture: dict[str, torch.Tensor], latent: int, slots: int, where: Path) -> None:
    """A one-line ``CheckpointError`` unless ``mixture`` has the tensors and shapes that
    :func:`sample_mixture` needs for ``latent``-dimensional latents and ``slots`` condition
    slots."""
    from synthbench.generators.base import CheckpointError

    try:
        m, k = mixture["weights"].shape
        shapes = {name: tuple(mixture[name].shape) for name in ("codes", "means", "scales")}
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{where}: not a latent mixture ({exc})") from None
    want = {"codes": (m, slots), "means": (m, k, latent), "scales": (m, k, latent, latent)}
    if shapes != want:
        raise CheckpointError(f"{where}: latent mixture shapes {shapes}, expected {want}")


def gaussian_kl(
    mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor, prior_logvar: torch.Tensor
) -> torch.Tensor:
    """Per-dimension ``KL(N(mu, e^logvar) || N(prior_mu, e^prior_logvar))``.

    >>> import torch
    >>> z = torch.zeros(1, 2)
    >>> gaussian_kl(z, z, z, z).tolist()
    [[0.0, 0.0]]
    >>> round(gaussian_kl(torch.ones(1, 1), z[:, :1], z[:, :1], z[:, :1]).item(), 3)
    0.5
    """
    return 0.5 * (
        prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).pow(2)) / prior_logvar.exp() - 1
    )
