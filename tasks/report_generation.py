"""``report-generation``: a timm image encoder and a small GPT-2 decoder with cross-attention.

>>> from synthbench.tasks.report_generation import ReportGenerationConfig
>>> ReportGenerationConfig.for_profile("smoke").n_layer
1

Both parts train from scratch on the mix's (image, report) pairs: the encoder's last feature map
becomes a sequence of tokens the decoder attends to. The vocabulary is a word-level tokenizer
(``tokenizers``) built from the training reports. Reports are decoded greedily (``num_beams=1``)
or with beam search, and scored against the true reports on real test images: BLEU-2 and BLEU-4,
ROUGE-L (torchmetrics), CIDEr-D, and clinical-efficacy precision / recall / F1 from the rule-based
report labeller (generated vs true findings). Model selection: lowest validation loss.
Artifact: ``predictions.csv`` (patient, true report, generated report).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthbench.errors import SynthbenchError
from synthbench.tasks.base import Metric, Task, TaskConfig

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort
    from synthbench.data.source import RealData
    from synthbench.tasks.mixing import Mix

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"


@dataclass(frozen=True)
class ReportGenerationConfig(TaskConfig):
    """Encoder, decoder and training budget (defaults: the ``quick`` profile)."""

    backbone: str = "test_efficientnet"
    pretrained_path: str | None = None
    n_embd: int = 96
    n_layer: int = 2
    n_head: int = 4
    max_tokens: int = 72
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    eval_every: int = 100
    num_beams: int = 1
    augment: float = 0.0  # reports name laterality, so flips are off by default

    PROFILES = {  # noqa: RUF012
        "smoke": {
            "n_embd": 32,
            "n_layer": 1,
            "n_head": 2,
            "max_tokens": 24,
            "steps": 6,
            "batch_size": 16,
            "eval_every": 3,
        },
        "quick": {},
        "standard": {
            "backbone": "resnet18",
            "n_embd": 256,
            "n_layer": 4,
            "n_head": 8,
            "max_tokens": 96,
            "steps": 5000,
            "batch_size": 64,
            "eval_every": 250,
            "lr": 5e-4,
            "num_beams": 3,
        },
    }


class ReportGenerator:
    """The image-to-report model: ``encoder`` (timm), ``project`` and ``decoder`` (GPT-2)."""

    def __init__(self, cfg: ReportGenerationConfig, in_chans: int, vocab_size: int) -> None:
        from torch import nn
        from transformers import GPT2Config, GPT2LMHeadModel

        from synthbench.tasks.training import build_backbone

        self.encoder = build_backbone(
            cfg.backbone, in_chans=in_chans, num_classes=0, pretrained_path=cfg.pretrained_path
        )
        self.project = nn.Linear(self.encoder.num_features, cfg.n_embd)
        self.decoder = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=vocab_size,
                n_positions=cfg.max_tokens,
                n_embd=cfg.n_embd,
                n_layer=cfg.n_layer,
                n_head=cfg.n_head,
                add_cross_attention=True,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
            )
        )
        self.modules = nn.ModuleList([self.encoder, self.project, self.decoder])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.encoder.forward_features(x)  # (B, D, h, w)
        return self.project(fmap.flatten(2).transpose(1, 2))  # (B, h*w, n_embd)

    def loss(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        labels = ids.masked_fill(ids == 0, -100)
        out = self.decoder(
            input_ids=ids,
            attention_mask=(ids != 0).long(),
            encoder_hidden_states=self.encode(x),
            labels=labels,
        )
        return out.loss

    def generate(self, x: torch.Tensor, *, max_tokens: int, num_beams: int) -> torch.Tensor:
        import torch

        enc = self.encode(x)
        start = torch.ones(len(x), 1, dtype=torch.long)
        return self.decoder.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            encoder_hidden_states=enc,
            max_length=max_tokens,
            num_beams=num_beams,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=2,
        )


class ReportGeneration(Task):
    """Report generator trained on real + synthetic (image, report) pairs."""

    name = "report-generation"
    Config = ReportGenerationConfig
    config: ReportGenerationConfig

    @classmethod
    def serves(cls, data: RealData) -> str | None:
        if not any(data.train.text) or not any(data.test.text):
            return "it has no reports (text) to learn and score"
        return None

    def _run(
        self, train: Mix, val: Cohort, test: Cohort, *, seed: int, out_dir: Path | None
    ) -> list[Metric]:
        import torch

        from synthbench.tasks.text_metrics import bleu, cider, clinical_efficacy, rouge_l, tokenize
        from synthbench.tasks.training import augment, batches, images_tensor

        cfg = self.config
        rows = [i for i, t in enumerate(train.cohort.text) if t.strip()]
        if not rows:
            raise SynthbenchError("report-generation: the training set has no reports")
        used = train.subset(np.asarray(rows))
        self.used_mix_ = used
        tokenizer = build_tokenizer(used.cohort.text)
        ids = encode(tokenizer, used.cohort.text, cfg.max_tokens)
        val_ids = encode(tokenizer, val.text, cfg.max_tokens)
        x, x_val = images_tensor(used.cohort.images), images_tensor(val.images)
        model = ReportGenerator(cfg, x.shape[1], tokenizer.get_vocab_size())
        params = list(model.modules.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 1), pct_start=0.1
        )
        gen = torch.Generator().manual_seed(seed)

        @torch.no_grad()
        def val_loss() -> float:
            model.modules.eval()
            losses = [
                float(model.loss(x_val[i : i + 128], val_ids[i : i + 128]))
                * len(x_val[i : i + 128])
                for i in range(0, len(x_val), 128)
            ]
            return sum(losses) / len(x_val)

        best, best_state = np.inf, None
        for step, idx in enumerate(batches(len(x), cfg.batch_size, gen, cfg.steps), 1):
            model.modules.train()
            xb = augment(x[idx], gen, strength=cfg.augment) if cfg.augment > 0 else x[idx]
            loss = model.loss(xb, ids[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            if step % cfg.eval_every == 0 or step == cfg.steps:
                current = val_loss()
                if current < best:
                    best, best_state = current, copy.deepcopy(model.modules.state_dict())
        if best_state is not None:
            model.modules.load_state_dict(best_state)

        model.modules.eval()
        x_test = images_tensor(test.images)
        generated: list[str] = []
        with torch.no_grad():
            for i in range(0, len(x_test), 64):
                out = model.generate(
                    x_test[i : i + 64], max_tokens=cfg.max_tokens, num_beams=cfg.num_beams
                )
                generated += [decode(tokenizer, seq) for seq in out.tolist()]
        hyps = [" ".join(tokenize(g)) for g in generated]
        refs = [[" ".join(tokenize(t))] for t in test.text]
        metrics = [
            Metric("bleu", bleu(hyps, refs, 2), True, {"n_gram": "2"}),
            Metric("bleu", bleu(hyps, refs, 4), True, {"n_gram": "4"}),
            Metric("rouge_l", rouge_l(hyps, refs), True),
            Metric("cider", cider(hyps, refs), True),
        ]
        efficacy = clinical_efficacy(generated, test.text, test)
        if efficacy is not None:
            metrics += [
                Metric(f"clinical_efficacy_{k}", v, True, {"average": "micro"})
                for k, v in efficacy.items()
            ]
        if out_dir is not None:
            import pandas as pd

            pd.DataFrame(
                {
                    "patient_id": test.patient_id,
                    "modality": test.modality,
                    "reference": test.text,
                    "generated": generated,
                }
            ).to_csv(out_dir / "predictions.csv", index=False)
            self.artifacts_["predictions"] = out_dir / "predictions.csv"
        return metrics


def build_tokenizer(texts: list[str]):
    """A word-level tokenizer over the training reports, splitting like :func:`tokenize`."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    from synthbench.tasks.text_metrics import _TOKEN

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(_TOKEN.pattern), "isolated")]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, BOS, EOS, UNK], min_frequency=1)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def encode(tokenizer, texts: list[str], max_tokens: int) -> torch.Tensor:
    """[BOS] tokens [EOS], truncated and padded with 0 to ``max_tokens``."""
    import torch

    out = torch.zeros(len(texts), max_tokens, dtype=torch.long)
    for i, t in enumerate(texts):
        body = tokenizer.encode(t).ids
        seq = [1, *body[: max_tokens - 2], 2]
        out[i, : len(seq)] = torch.tensor(seq)
    return out


def decode(tokenizer, ids: list[int]) -> str:
    """Token ids back to text, stopping at [EOS]; words joined by spaces."""
    words = []
    for j in ids[1:]:
        if j == 2:
            break
        if j > 3:
            words.append(tokenizer.id_to_token(j))
    return " ".join(words)
