"""MINIM's text side: a word-level tokenizer built from the report corpus (``tokenizers``) and a
small transformer encoder (``transformers`` BERT, trained from scratch with the UNet), or a
pretrained encoder and its tokenizer from a local folder.

Both save in the Hugging Face layout (``tokenizer/tokenizer.json``, ``text_encoder/config.json``
+ ``model.safetensors``) and load without network access or pickle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from synthbench.errors import SynthbenchError

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


class PromptTokenizer:
    """Fixed-length token ids and attention masks for prompts."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        self.tokenizer = tokenizer  # tokenizers.Tokenizer, or a transformers fast tokenizer
        self.max_tokens = max_tokens

    @classmethod
    def build(cls, corpus: Sequence[str], *, vocab_size: int, max_tokens: int) -> PromptTokenizer:
        """A word-level tokenizer over the corpus: lower-cased words and punctuation, the
        ``vocab_size`` most frequent kept (ties broken alphabetically, so the same corpus always
        gives the same ids), ``[CLS] words [SEP]``, padded and truncated to ``max_tokens``."""
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

        normalizer = normalizers.Sequence(
            [normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]
        )
        pre = pre_tokenizers.Whitespace()
        counts: Counter[str] = Counter()
        for text in corpus:
            counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
        words = sorted(counts, key=lambda w: (-counts[w], w))[: max(0, vocab_size - len(SPECIALS))]
        vocab = {tok: i for i, tok in enumerate([*SPECIALS, *words])}
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        tok.enable_truncation(max_length=max_tokens)
        tok.enable_padding(pad_id=0, pad_token="[PAD]", length=max_tokens)
        return cls(tok, max_tokens)

    @property
    def vocab_size(self) -> int:
        return (
            self.tokenizer.get_vocab_size()
            if hasattr(self.tokenizer, "get_vocab_size")
            else len(self.tokenizer)
        )

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [str(t) for t in texts]
        if hasattr(self.tokenizer, "encode_batch"):
            enc = self.tokenizer.encode_batch(texts)
            ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
            mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
            return ids, mask
        out = self.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        return out["input_ids"], out["attention_mask"]

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if hasattr(self.tokenizer, "save_pretrained"):
            self.tokenizer.save_pretrained(str(path))
        else:
            self.tokenizer.save(str(path / "tokenizer.json"))

    @classmethod
    def load(cls, path: Path, max_tokens: int, *, pretrained: bool) -> PromptTokenizer:
        if pretrained:
            from transformers import AutoTokenizer

            return cls(AutoTokenizer.from_pretrained(str(path), local_files_only=True), max_tokens)
        from tokenizers import Tokenizer

        file = path / "tokenizer.json"
        if not file.is_file():
            raise SynthbenchError(f"{path}: missing tokenizer.json")
        return cls(Tokenizer.from_file(str(file)), max_tokens)


def small_text_encoder(vocab_size: int, dim: int, layers: int, heads: int, max_tokens: int) -> Any:
    """A BERT-style encoder built from scratch (no dropout, so training is reproducible, and no
    pooling layer: minim pools the token states itself)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=dim,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * dim,
        max_position_embeddings=max_tokens,
        type_vocab_size=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertModel(config, add_pooling_layer=False)


def load_text_encoder(path: Path) -> Any:
    """A text encoder saved by ``save_pretrained`` (ours, or a pretrained one), safetensors only."""
    from transformers import AutoConfig, AutoModel

    if not (path / "config.json").is_file():
        raise SynthbenchError(f"{path}: no text encoder here (missing config.json)")
    quiet_hf()
    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    extra = {}
    if config.model_type == "bert":  # keep BERT's pooling layer only where it was saved
        from safetensors import safe_open

        weights = path / "model.safetensors"
        keys = set(safe_open(str(weights), "pt").keys()) if weights.is_file() else set()
        extra["add_pooling_layer"] = any(k.startswith("pooler.") for k in keys)
    return AutoModel.from_pretrained(
        str(path), local_files_only=True, use_safetensors=True, **extra
    )


def quiet_hf() -> None:
    """No progress bars or load reports from transformers / diffusers for tiny local models."""
    import diffusers
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()


def encode(encoder: Any, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return encoder(input_ids=ids, attention_mask=mask).last_hidden_state


def pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token states over the tokens the mask keeps (padding left out).

    >>> import torch
    >>> states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    >>> pool(states, torch.tensor([[1, 1, 0]])).tolist()
    [[2.0, 3.0]]
    """
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)
