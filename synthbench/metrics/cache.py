"""Content hashes and the on-disk cache of reference features and trained helper models.

>>> from synthbench.metrics.cache import FeatureCache
>>> cache = FeatureCache("/tmp/synthbench-cache")  # doctest: +SKIP
>>> feats = cache.features({"cohort": "ab12", "extractor": "domain-3f"}, lambda: compute())  # doctest: +SKIP

Keys are content hashes (of the images, labels and texts of a cohort, of a config, of this
module's ``CACHE_VERSION``), never file names, so a changed cohort or config can never read a
stale entry. Arrays are stored as ``.npy`` and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from synthbench import __version__
from synthbench.io import atomic_dir, temp_sibling, write_json_atomic

if TYPE_CHECKING:
    from synthbench.cohort import Cohort

T = TypeVar("T")

#: bump when the meaning of a cached entry changes (feature layout, training recipe ...)
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$SYNTHBENCH_CACHE``, else ``~/.cache/synthbench``."""
    env = os.environ.get("SYNTHBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "synthbench"


def hash_bytes(*parts: bytes | str) -> str:
    """A short (20 hex digits) blake2b digest of the parts, in order."""
    h = hashlib.blake2b(digest_size=10)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def hash_config(config: Any) -> str:
    """Digest of a JSON-able config (a dict or a dataclass), key order irrelevant."""
    from dataclasses import asdict, is_dataclass

    payload = asdict(config) if is_dataclass(config) and not isinstance(config, type) else config
    return hash_bytes(json.dumps(payload, sort_keys=True, default=str))


def cohort_hash(cohort: Cohort, *, with_text: bool = True) -> str:
    """Content hash of a cohort: images, modalities, labels, findings and (optionally) texts."""
    parts: list[bytes | str] = [
        str(cohort.images.shape),
        np.ascontiguousarray(cohort.images).tobytes(),
        "\x1f".join(map(str, cohort.modality.tolist())),
        np.ascontiguousarray(cohort.label, np.int64).tobytes(),
        np.ascontiguousarray(cohort.findings, bool).tobytes(),
        json.dumps(cohort.label_names, sort_keys=True),
        "\x1f".join(cohort.finding_names),
    ]
    if with_text:
        parts.append("\x1f".join(cohort.text))
    return hash_bytes(*parts)


def images_hash(images: np.ndarray) -> str:
    """Content hash of an image array alone (shape and bytes)."""
    return hash_bytes(str(images.shape), str(images.dtype), np.ascontiguousarray(images).tobytes())


class FeatureCache:
    """A folder of cached arrays and model folders, keyed by content hashes.

    ``enabled=False`` computes everything and stores nothing (for timing the cold path).
    """

    def __init__(self, root: str | Path | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def key(self, parts: dict[str, Any]) -> str:
        return hash_config({**parts, "cache_version": CACHE_VERSION})

    def array(
        self, kind: str, parts: dict[str, Any], compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The array stored under ``kind``/``key(parts)``, computed and stored on a miss."""
        if not self.enabled:
            self.misses += 1
            return compute()
        path = self.root / kind / f"{self.key(parts)}.npy"
        if path.is_file():
            try:
                value = np.load(path, allow_pickle=False)
                self.hits += 1
                return value
            except (OSError, ValueError, EOFError):
                pass  # a damaged entry is recomputed and overwritten
        self.misses += 1
        value = np.asarray(compute())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_sibling(path)
        with tmp.open("wb") as fh:
            np.save(fh, value, allow_pickle=False)
        os.replace(tmp, path)
        write_json_atomic(path.with_suffix(".json"), {**parts, "synthbench_version": __version__})
        return value

    def folder(self, kind: str, parts: dict[str, Any]) -> Path:
        """Where a cached model for ``parts`` lives (it may not exist yet)."""
        return self.root / kind / self.key(parts)

    def model(
        self,
        kind: str,
        parts: dict[str, Any],
        *,
        load: Callable[[Path], T],
        build: Callable[[], T],
        save: Callable[[T, Path], None],
    ) -> T:
        """A helper model cached as a folder under ``kind``/``key(parts)``: loaded when present
        and readable, else built and saved (atomically, so a killed run leaves no half folder).
        A damaged folder (truncated or foreign files) is rebuilt and replaced, never fatal."""
        folder = self.folder(kind, parts)
        if self.enabled and folder.is_dir():
            try:
                value = load(folder)
            except Exception:  # safetensors, json, torch and key errors alike: rebuild it
                pass
            else:
                self.hits += 1
                return value
        self.misses += 1
        value = build()
        if self.enabled:
            with atomic_dir(folder) as work:
                save(value, work)
        return value
