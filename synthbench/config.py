"""Frozen component settings with per-profile values, shared by generators and tasks.

Settings stored on disk (in checkpoints) carry their config version: when a component adds,
drops or renames settings it records a :class:`ConfigVersion`, and ``from_stored`` reads a
config of any earlier version (or refuses it in one line where it cannot be converted).
``CODE_VERSION`` is bumped by hand when the code that turns settings into results changes, so
the config hash, the key of everything cached or shipped, changes with it.

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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from synthbench.errors import SynthbenchError

#: budget profiles, smallest first (see DESIGN.md, "Budget profiles")
PROFILES = ("smoke", "quick", "standard")

C = TypeVar("C", bound="ProfiledConfig")


@dataclass(frozen=True)
class ConfigVersion:
    """What one version of a component's settings changed, so that settings stored by an
    earlier version still read. Version 1 is every config stored before versions were
    recorded; its ``added`` are the settings that arrived in that time."""

    version: int
    #: settings this version added, each with the value that does what earlier versions did: a
    #: stored config of an earlier version without one reads as that value, and the config hash
    #: leaves the setting out while it holds that value, so the hashes of everything stored
    #: before it existed stay valid
    added: Mapping[str, Any] = field(default_factory=dict)
    #: settings this version removed, each with the value it must hold in a stored config for
    #: that config to convert (the value that had its code path off); any other value is refused
    removed: Mapping[str, Any] = field(default_factory=dict)
    #: where the removed settings' code and findings are kept (a commit, a docs page)
    note: str = ""


@dataclass(frozen=True)
class ProfiledConfig:
    """Base of a component's settings. Subclasses add fields (defaults = the ``quick`` profile)
    and per-profile overrides in ``PROFILES``; ``for_profile`` builds one. ``HASH_KIND`` names
    the component kind in the config hash."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}
    HASH_KIND: ClassVar[str] = "component"
    #: the history of the settings' layout, oldest first (see :class:`ConfigVersion`); the
    #: current config version is the last one's (1 without a history)
    VERSIONS: ClassVar[tuple[ConfigVersion, ...]] = ()
    #: bumped by hand when the code that turns these settings into results changes (training
    #: or sampling), so the config hash changes and stale checkpoints and caches are not used;
    #: version 1 hashes as configs did before code versions existed
    CODE_VERSION: ClassVar[int] = 1

    @classmethod
    def config_version(cls) -> int:
        """The version of the settings' layout this code writes."""
        return max((v.version for v in cls.VERSIONS), default=1)

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
    def from_stored(cls: type[C], values: dict[str, Any], *, version: int) -> C:
        """A config as written by ``to_dict`` under config ``version`` (see ``upgrade``)."""
        return cls.from_dict(cls.upgrade(values, version=version)[0])

    @classmethod
    def upgrade(cls, values: dict[str, Any], *, version: int) -> tuple[dict[str, Any], list[str]]:
        """Stored settings of config ``version`` as the current version reads them, and what
        was changed (one short phrase each): settings added since read as their earlier value,
        removed ones dropped where they hold the value that had them off. A removed setting at
        any other value, or a version newer than this code's, is a one-line error."""
        current = cls.config_version()
        name = cls.__qualname__
        if version > current:
            raise SynthbenchError(
                f"{name}: settings of config version {version}, newer than this synthbench "
                f"reads ({current}); upgrade synthbench"
            )
        out, changes = dict(values), []
        for step in cls.VERSIONS:
            # version 1's additions predate recorded versions: a version-1 config may lack them
            if step.version <= version and step.version != 1:
                continue
            for key, value in step.added.items():
                if key not in out:
                    out[key] = value
                    changes.append(f"{key} read as {value!r}")
            for key, off in step.removed.items():
                if key not in out:
                    continue
                if not _same(out[key], off):
                    where = f" ({step.note})" if step.note else ""
                    raise SynthbenchError(
                        f"{name}: setting {key}={out[key]!r} was removed in config version "
                        f"{step.version}{where}; this synthbench cannot use it"
                    )
                del out[key]
                changes.append(f"{key}={off!r} dropped")
        return out, changes

    @classmethod
    def hash_neutral(cls) -> dict[str, Any]:
        """Settings the config hash leaves out at these values: each added by a version, at
        the value that does what the versions before did."""
        return {k: v for step in cls.VERSIONS for k, v in step.added.items()}

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
        """A stable 12-hex-digit hash of the component name, its code version and every
        setting (but one a version added, at its earlier value, and those in ``leave_out``)."""
        neutral = self.hash_neutral()
        settings = {
            k: v
            for k, v in self.to_dict().items()
            if k not in leave_out and (k not in neutral or not _same(v, neutral[k]))
        }
        payload: dict[str, Any] = {self.HASH_KIND: name, "config": settings}
        if self.CODE_VERSION != 1:
            payload["code_version"] = self.CODE_VERSION
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _same(a: Any, b: Any) -> bool:
    """Equal settings, a stored list and a tuple alike."""
    norm = lambda v: tuple(v) if isinstance(v, list | tuple) else v  # noqa: E731
    return norm(a) == norm(b)


def _looks_numeric(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True
