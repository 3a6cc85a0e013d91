"""``diffusers``: any diffusers text-to-image pipeline from a local folder (Stable Diffusion,
RoentGen, MINIM's released UNet in an SD pipeline ...), benchmarked as it is.

    synthbench train diffusers --data 'phantom:cxr' --set pipeline=/models/roentgen --out ckpt/roentgen

``fit`` trains nothing: it records the training schema (for balanced prompts and the output
shape). The checkpoint stores the pipeline's path, not its weights. Prompts are the
``"Modality: findings"`` reports, optionally rewritten by ``prompt_template`` (``{text}`` is the
report). Images are made at ``image_size`` (default: the pipeline's own size), then resized to
the training size and mapped to each modality's native channels. Loading is local-only and
safetensors-only, so nothing downloads and nothing unpickles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.generators.base import Capabilities, Generator, GeneratorConfig
from synthbench.generators.conditions import ResolvedConditions

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort


@dataclass(frozen=True)
class DiffusersConfig(GeneratorConfig):
    """``pipeline``: a local folder written by ``DiffusionPipeline.save_pretrained`` (required)."""

    pipeline: str | None = None
    num_inference_steps: int = 25
    guidance_scale: float = 7.5
    image_size: int | None = None
    prompt_template: str = "{text}"


class DiffusersPipeline(Generator):
    """A pretrained text-to-image pipeline (see the module docstring)."""

    name = "diffusers"
    Config = DiffusersConfig
    capabilities = Capabilities(conditioning="text", transfer=True)
    config: DiffusersConfig
    block_size = 16

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        self._pipeline()  # fail now, not at sampling time, when the folder is wrong
        return {"pipeline": self.config.pipeline}

    def _pipeline(self) -> Any:
        if getattr(self, "pipe_", None) is not None:
            return self.pipe_
        if not self.config.pipeline:
            raise SynthbenchError(
                "diffusers needs pipeline=<local pipeline folder> (--set pipeline=...)"
            )
        path = Path(self.config.pipeline)
        if not (path / "model_index.json").is_file():
            raise SynthbenchError(
                f"{path}: not a diffusers pipeline folder (missing model_index.json); "
                "hub ids must be downloaded to a local folder first"
            )
        from diffusers import DiffusionPipeline

        from synthbench.generators.text import quiet_hf
        from synthbench.generators.training import default_device

        quiet_hf()
        try:
            pipe = DiffusionPipeline.from_pretrained(
                str(path), local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise SynthbenchError(
                f"{path}: cannot load the pipeline ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            ) from None
        pipe.set_progress_bar_config(disable=True)
        self.pipe_ = pipe.to(default_device())
        return self.pipe_

    def _generate(self, conditions: ResolvedConditions, generator: torch.Generator) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from synthbench.generators.image_space import from_model_space

        schema = self._require_fit()
        pipe = self._pipeline()
        prompts = [self.config.prompt_template.format(text=t) for t in conditions.text]
        size = self.config.image_size
        with torch.no_grad():
            images = pipe(
                prompt=prompts,
                height=size,
                width=size,
                num_inference_steps=self.config.num_inference_steps,
                guidance_scale=self.config.guidance_scale,
                generator=generator,
                output_type="np",
            ).images
        x = torch.from_numpy(np.asarray(images, np.float32)).permute(0, 3, 1, 2) * 2 - 1
        h, w = schema.image_shape[1:]
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        native = np.asarray([schema.channels[m] for m in conditions.modality])
        return from_model_space(x, native, schema.image_shape[0])

    def _save_state(self, path: Path) -> None:
        pass  # the checkpoint names the pipeline folder; its weights stay where they are

    def _load_state(self, path: Path) -> None:
        self.pipe_ = None
