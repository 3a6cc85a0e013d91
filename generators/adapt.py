"""``minim-adapted``: a trained ``minim`` moved to a new domain by fine-tuning, in full or with
LoRA (MINIM's transfer to new modalities).

The base checkpoint (``init_from``) starts the training. Words of the new domain's reports that
the base's tokenizer lacks are added to it, each with a fresh embedding row (the mean of the
base's rows) that trains, instead of all reading as the one unknown token.

- ``method = "full"``: every weight trains, as ``minim`` with ``init_from`` does; the checkpoint
  holds the whole model.
- ``method = "lora"``: the base's weights stay frozen; low-rank adapters (``peft``) on the UNet's
  attention projections and the text encoder's query, key and value learn the new domain, with the
  new words' embedding rows. The checkpoint holds only those (``adapter.safetensors``) and names
  the base, which must be present to load it.

    synthbench adapt shipped:minim-oct-fundus-cxr-chest_ct --data 'phantom:brain_mri?n=286&size=32' --shots 200 \\
        --method lora --out runs/minim-brain-lora
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from synthbench.config import ConfigVersion
from synthbench.errors import SynthbenchError
from synthbench.generators.minim import Minim, MinimConfig

if TYPE_CHECKING:
    import torch

    from synthbench.cohort import Cohort
    from synthbench.generators.text import PromptTokenizer

ADAPTER_FILE = "adapter.safetensors"
ADAPTER_META = "adapter.json"
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("query", "key", "value")
METHODS = ("full", "lora")
#: where the UNet's adapters go: its attention projections, or every linear and convolution
LORA_TARGETS = ("attention", "all")


@dataclass(frozen=True)
class AdaptedMinimConfig(MinimConfig):
    """``MinimConfig`` plus the adaptation: ``init_from`` (required), ``method``, LoRA's rank and
    scale. Fine-tuning defaults: 2,000 steps at learning rate 1e-4."""

    #: 2: a pretrained tokenizer learns the new words too (version 1 added none to one);
    #: 3: ``lora_conv_rank``; 4: ``lora_conv_rank`` removed again (adapters on the residual
    #: blocks' convolutions lost to attention-only LoRA twice: docs/transfer.md)
    CODE_VERSION: ClassVar[int] = 4
    #: version 3 added ``lora_targets``; "attention" is where every earlier adapter went
    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = (
        *MinimConfig.VERSIONS,
        ConfigVersion(3, added={"lora_targets": "attention"}),
    )

    method: str = "lora"
    lora_rank: int = 8
    lora_alpha: float = 8.0
    #: "attention": the UNet's attention projections (to_q, to_k, to_v, to_out); "all": every
    #: linear layer and convolution of the UNet (the residual blocks, the feed-forward layers,
    #: the time and prompt embeddings, the input and output convolutions)
    lora_targets: str = "attention"
    extend_vocabulary: bool = True

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {**MinimConfig.PROFILES["smoke"], "steps": 20},
        "quick": {"steps": 2_000, "lr": 1e-4, "warmup_steps": 50},
        "standard": {**MinimConfig.PROFILES["standard"], "steps": 10_000, "lr": 1e-4},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be at least 1, got {self.lora_rank}")
        if not self.lora_alpha > 0:
            raise ValueError(f"lora_alpha must be positive, got {self.lora_alpha}")
        if self.lora_targets not in LORA_TARGETS:
            raise ValueError(
                f"lora_targets must be one of {', '.join(LORA_TARGETS)}, got {self.lora_targets!r}"
            )


class AdaptedMinim(Minim):
    """See the module docstring."""

    name = "minim-adapted"
    Config = AdaptedMinimConfig
    config: AdaptedMinimConfig
    #: words the base's tokenizer lacked, added for the new domain
    new_words_: list[str]

    def _fit(self, train: Cohort, *, seed: int) -> dict[str, Any]:
        if not self.config.init_from:
            raise SynthbenchError(
                "minim-adapted adapts a trained minim: give init_from=<checkpoint> "
                "(synthbench adapt CKPT ...)"
            )
        self._corpus = list(train.text)
        info = super()._fit(train, seed=seed)
        info["adaptation"] = {
            "method": self.config.method,
            "new_words": len(self.new_words_),
            "trainable_parameters": self._trainable,
        }
        return info

    def _init_checkpoint(self) -> Minim | None:
        """The base with its tokenizer and text encoder extended by the new domain's words."""
        base = super()._init_checkpoint()
        if base is None:
            return None
        self._base_vocab = base.tokenizer_.vocab_size
        # the weights the adapters are trained against, read when they are (not when saved)
        self._base_weights = base_weights(self.config.init_from or "")
        self.new_words_ = []
        if self.config.extend_vocabulary:
            base.tokenizer_, self.new_words_ = extend_tokenizer(base.tokenizer_, self._corpus)
            grow_embeddings(base.text_encoder_, base.tokenizer_.vocab_size)
        return base

    def _train(self, modules: dict[str, Any], loss_fn: Any, n_items: int, data: Any, **kw: Any):
        if self.config.method == "lora":
            add_lora(modules["unet"], modules["text_encoder"], self.config, self._base_vocab)
        self._trainable = sum(
            p.numel()
            for name in ("unet", "text_encoder")
            for p in modules[name].parameters()
            if p.requires_grad
        )
        return super()._train(modules, loss_fn, n_items, data, **kw)

    # ------------------------------------------------------------------ checkpoints
    def _save_state(self, path: Path) -> None:
        if self.config.method == "full":
            super()._save_state(path)
            (path / ADAPTER_META).write_text(json.dumps({"new_words": self.new_words_}, indent=2))
            return
        from safetensors.torch import save_file

        from synthbench.generators.diffusion import save_scheduler

        self.tokenizer_.save(path / "tokenizer")
        save_scheduler(self.scheduler_config_, path / "scheduler")
        tensors = adapter_tensors(self.unet_, self.text_encoder_, self._base_vocab)
        if self.prompt_norm_ is not None:
            tensors["prompt_norm.mean"], tensors["prompt_norm.std"] = self.prompt_norm_
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, path / ADAPTER_FILE
        )
        meta = {
            "base_vocab": self._base_vocab,
            "base_weights": self._base_weights,
            "new_words": self.new_words_,
        }
        (path / ADAPTER_META).write_text(json.dumps(meta, indent=2))

    def _load_state(self, path: Path) -> None:
        meta_file = path / ADAPTER_META
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        self.new_words_ = list(meta.get("new_words", []))
        if self.config.method == "full":
            super()._load_state(path)
            return
        from safetensors.torch import load_file

        from synthbench.generators import text
        from synthbench.generators.base import load_generator
        from synthbench.generators.diffusion import load_scheduler_config

        base = load_generator(Path(self.config.init_from or ""))
        if not isinstance(base, Minim):
            raise SynthbenchError(f"{path}: its base {self.config.init_from} is not a minim")
        if meta.get("base_weights") != base_weights(self.config.init_from or ""):
            raise SynthbenchError(
                f"{path}: its base {self.config.init_from} is not the checkpoint the adapters "
                "were trained on (its weights differ); restore that base or adapt again"
            )
        self._base_vocab = int(meta["base_vocab"])
        self.tokenizer_ = text.PromptTokenizer.load(
            path / "tokenizer",
            self.config.max_tokens,
            pretrained=bool(self.config.text_encoder_path),
        )
        unet, encoder = base.unet_, base.text_encoder_
        grow_embeddings(encoder, self.tokenizer_.vocab_size)
        add_lora(unet, encoder, self.config, self._base_vocab)
        tensors = load_file(str(path / ADAPTER_FILE))
        norm = [tensors.pop(f"prompt_norm.{k}", None) for k in ("mean", "std")]
        load_adapter_tensors(unet, encoder, tensors, self._base_vocab)
        self.unet_, self.text_encoder_ = unet.eval(), encoder.eval()
        self.scheduler_config_ = load_scheduler_config(path / "scheduler")
        self.prompt_norm_ = (norm[0], norm[1]) if norm[0] is not None else None


# ---------------------------------------------------------------------------------- pieces
def base_weights(checkpoint: str) -> str:
    """A digest of the base checkpoint's weight files (what LoRA adapters are tied to)."""
    from synthbench.generators.base import file_digests, weights_digest
    from synthbench.generators.shipped import resolve_checkpoint

    digests = file_digests(resolve_checkpoint(checkpoint))
    return weights_digest({k: v for k, v in digests.items() if k.endswith(".safetensors")})


def extend_tokenizer(
    tokenizer: PromptTokenizer, corpus: Sequence[str]
) -> tuple[PromptTokenizer, list[str]]:
    """The tokenizer with the corpus's words it lacks appended (most frequent first, ties
    alphabetical, so the same corpus gives the same ids), and those words."""
    from tokenizers import Tokenizer

    from synthbench.generators.text import PromptTokenizer

    inner = tokenizer.tokenizer
    if not isinstance(inner, Tokenizer):  # a pretrained transformers tokenizer
        return _extend_pretrained(tokenizer, corpus)
    counts: Counter[str] = Counter()
    for text in corpus:
        normalized = inner.normalizer.normalize_str(text)
        counts.update(w for w, _ in inner.pre_tokenizer.pre_tokenize_str(normalized))
    vocab = inner.get_vocab()
    new = sorted((w for w in counts if w not in vocab), key=lambda w: (-counts[w], w))
    if not new:
        return tokenizer, []
    spec = json.loads(inner.to_str())
    start = len(vocab)
    spec["model"]["vocab"].update({w: start + i for i, w in enumerate(new)})
    return PromptTokenizer(Tokenizer.from_str(json.dumps(spec)), tokenizer.max_tokens), new


def _extend_pretrained(
    tokenizer: PromptTokenizer, corpus: Sequence[str]
) -> tuple[PromptTokenizer, list[str]]:
    """:func:`extend_tokenizer` for a ``transformers`` fast tokenizer: a word is new where the
    tokenizer can only read it (or part of it) as its unknown token; the new words are added
    whole (matched as single words, after the tokenizer's normalising) to a copy, so the base's
    own tokenizer is left as it was."""
    import copy

    from transformers import AddedToken

    from synthbench.generators.text import PromptTokenizer

    inner = tokenizer.tokenizer
    backend = inner.backend_tokenizer
    unknown = inner.unk_token
    counts: Counter[str] = Counter()
    for text in corpus:
        normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
        pre = backend.pre_tokenizer
        words = [w for w, _ in pre.pre_tokenize_str(normalized)] if pre else normalized.split()
        counts.update(words)
    new = sorted(
        (w for w in counts if unknown is not None and unknown in inner.tokenize(w)),
        key=lambda w: (-counts[w], w),
    )
    if not new:
        return tokenizer, []
    grown = copy.deepcopy(inner)
    grown.add_tokens([AddedToken(w, single_word=True, normalized=True) for w in new])
    return PromptTokenizer(grown, tokenizer.max_tokens), new


def grow_embeddings(encoder: Any, vocab_size: int) -> None:
    """Give the encoder ``vocab_size`` word embeddings; new rows start at the mean of the old."""
    import torch

    old = encoder.get_input_embeddings().weight
    n_old = old.shape[0]
    if vocab_size <= n_old:
        return
    mean = old.detach().mean(0)
    encoder.resize_token_embeddings(vocab_size)
    with torch.no_grad():
        encoder.get_input_embeddings().weight[n_old:] = mean


def _lora_config(targets: Sequence[str], config: AdaptedMinimConfig) -> Any:
    """peft's settings for adapters on ``targets``."""
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        target_modules=list(targets),
        lora_dropout=0.0,
        init_lora_weights=True,
    )


def add_lora(unet: Any, encoder: Any, config: AdaptedMinimConfig, base_vocab: int) -> None:
    """Freeze both models, inject LoRA adapters (trainable) and let only the embedding rows
    past ``base_vocab`` (the new words) train."""
    from peft import inject_adapter_in_model

    unet.requires_grad_(False)
    encoder.requires_grad_(False)
    inject_adapter_in_model(_lora_config(unet_targets(unet, config.lora_targets), config), unet)
    inject_adapter_in_model(_lora_config(TEXT_TARGETS, config), encoder)
    for model in (unet, encoder):
        for name, p in model.named_parameters():
            p.requires_grad_("lora_" in name)
    embedding = encoder.get_input_embeddings().weight
    if embedding.shape[0] > base_vocab:
        embedding.requires_grad_(True)
        keep = _row_mask(embedding, base_vocab)
        embedding.register_hook(lambda grad: grad * keep)


def unet_targets(unet: Any, where: str) -> tuple[str, ...]:
    """The UNet's modules that get adapters: the attention projections' names, or the full
    name of every linear layer and convolution (``where = "all"``)."""
    import torch

    if where == "attention":
        return UNET_TARGETS
    layers = (torch.nn.Linear, torch.nn.Conv2d)
    return tuple(name for name, module in unet.named_modules() if isinstance(module, layers))


def _row_mask(embedding: torch.Tensor, base_vocab: int) -> torch.Tensor:
    import torch

    keep = torch.zeros(embedding.shape[0], 1, dtype=embedding.dtype, device=embedding.device)
    keep[base_vocab:] = 1.0
    return keep


def adapter_tensors(unet: Any, encoder: Any, base_vocab: int) -> dict[str, torch.Tensor]:
    """What LoRA adds to the base: the adapters' weights and the new words' embedding rows."""
    out = {f"unet.{k}": v for k, v in unet.state_dict().items() if "lora_" in k}
    out.update({f"text_encoder.{k}": v for k, v in encoder.state_dict().items() if "lora_" in k})
    rows = encoder.get_input_embeddings().weight[base_vocab:]
    if len(rows):
        out["new_word_embeddings"] = rows
    return out


def load_adapter_tensors(
    unet: Any, encoder: Any, tensors: dict[str, torch.Tensor], base_vocab: int
) -> None:
    """Put :func:`adapter_tensors` back into adapter-injected models; a mismatch is one line."""
    import torch

    rows = tensors.pop("new_word_embeddings", None)
    for prefix, model in (("unet.", unet), ("text_encoder.", encoder)):
        own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        expected = {k for k in model.state_dict() if "lora_" in k}
        if set(own) != expected:
            missing = sorted(expected - set(own))[:2]
            raise SynthbenchError(
                f"the adapter file does not fit its base ({prefix[:-1]}: missing {missing}); "
                "the base checkpoint was changed or replaced"
            )
        model.load_state_dict(own, strict=False)
    if rows is not None:
        with torch.no_grad():
            encoder.get_input_embeddings().weight[base_vocab:] = rows
