"""Frozen component settings with per-profile values, shared by generators and tasks.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class MyConfig(ProfiledConfig):
...     steps: int = 300
...     PROFILES = {"smoke": {"steps": 6}}
>>> MyConfig.for_profile("smoke").steps, MyConfig.for_profile("quick", steps=50).steps
(6, 50)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from synthbench.errors import SynthbenchError

#: budget profiles, smallest first (see DESIGN.md, "Budget profiles")
PROFILES = ("smoke", "quick", "standard")

C = TypeVar("C", bound="ProfiledConfig")


@dataclass(frozen=True)
class ProfiledConfig:
    """Base of a component's settings. Subclasses add fields (defaults = the ``quick`` profile)
    and per-profile overrides in ``PROFILES``; ``for_profile`` builds one. ``HASH_KIND`` names
    the component kind in the config hash."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}
    HASH_KIND: ClassVar[str] = "component"
    #: settings added after configs were first stored, each with the value that reproduces what
    #: earlier versions did: a stored config without one reads as that value (``from_stored``),
    #: and the hash leaves such a setting out while it holds that value, so the hashes of
    #: everything stored before it was added stay valid
    LEGACY: ClassVar[dict[str, Any]] = {}

    @classmethod
    def for_profile(cls: type[C], profile: str = "quick", **overrides: Any) -> C:
        """The config of a budget profile, with ``overrides`` on top (unknown keys are errors)."""
        if profile not in PROFILES:
            raise SynthbenchError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
        return cls.from_dict({**cls.PROFILES.get(profile, {}), **overrides})

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise SynthbenchError(
                f"{cls.__qualname__}: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(names)}"
            )
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            return cls(**clean)
        except (TypeError, ValueError) as exc:
            raise SynthbenchError(f"{cls.__qualname__}: {exc}") from None

    @classmethod
    def from_stored(cls: type[C], values: dict[str, Any]) -> C:
        """A config as written by ``to_dict``, possibly by an earlier version (see ``LEGACY``)."""
        return cls.from_dict({**cls.LEGACY, **values})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self: C, **changes: Any) -> C:
        return self.from_dict({**self.to_dict(), **changes})

    @classmethod
    def parse_override(cls, text: str) -> tuple[str, Any]:
        """``"key=value"`` from the command line, the value typed like the field's default."""
        key, sep, raw = text.partition("=")
        key = key.strip().replace("-", "_")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if not sep or key not in fields:
            raise SynthbenchError(
                f"--set {text!r}: expected key=value with key one of {', '.join(fields)}"
            )
        default = fields[key].default
        raw = raw.strip()
        try:
            if isinstance(default, bool):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                return key, raw.lower() in ("true", "1", "yes")
            if isinstance(default, int):
                return key, int(raw)
            if default is None and raw.lstrip("-").isdigit():
                return key, int(raw)
            if isinstance(default, float) or (default is None and _looks_numeric(raw)):
                return key, float(raw)
            if isinstance(default, tuple):
                items = [v.strip() for v in raw.strip("()[]").split(",") if v.strip()]
                kind = type(default[0]) if default else str
                return key, tuple(kind(v) for v in items)
        except ValueError:
            raise SynthbenchError(
                f"--set {text!r}: {raw!r} is not a valid {type(default).__name__}"
            ) from None
        return key, None if raw.lower() == "none" else raw

    def config_hash(self, name: str, *, leave_out: Collection[str] = ()) -> str:
        """A stable 12-hex-digit hash of the component name and every setting (but a ``LEGACY``
        one at its earlier value, and those named in ``leave_out``)."""
        settings = {
            k: v
            for k, v in self.to_dict().items()
            if k not in leave_out and (k not in self.LEGACY or v != self.LEGACY[k])
        }
        payload = json.dumps(
            {self.HASH_KIND: name, "config": settings}, sort_keys=True, default=list
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _looks_numeric(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True
