"""A reminder to bump ``CODE_VERSION``: each built-in generator's code (its module and the
generator modules it imports, docstrings and comments left out) is recorded here by digest per
code version. Code that changes while the version stays fails this test, so the config hash
(which includes the code version) changes with the code, and shipped checkpoints and caches made
by the old code are not used as if the new code had made them."""

import ast
import hashlib
import inspect
from pathlib import Path

import pytest

from synthbench.generators.base import get_generator_class
from synthbench.registry import builtin_names, generators

GENERATORS_DIR = Path(inspect.getsourcefile(get_generator_class("ddpm"))).parent
#: generator modules that hold no training or sampling code (the contract, checkpoint files)
NOT_CODE = {"__init__", "base", "conditions", "shipped", "model_card", "upgrade"}

#: (generator, code version) -> digest of its code at that version
RECORDED = {
    ("best-of-n", 1): "9a021ed975f150b4",
    ("best-of-n", 2): "a68b05020b143af7",
    ("cgan", 1): "ace5062b26bb0e23",
    ("classical-aug", 1): "729a043dc5a0e87e",
    ("cvae", 1): "fb0395aa13758bec",
    ("ddpm", 1): "0e4e86c40a09f245",
    ("diffusers", 1): "e0100f7830d35161",
    ("folder", 1): "97288f833ebc2fef",
    ("minim", 1): "147e11fa73285db1",
    ("minim-adapted", 1): "98dfe59cd92ace34",
    ("minim-adapted", 2): "3a92071f41d0c07b",
    ("minim-adapted", 3): "c18504ee59071505",
    ("minim-adapted", 4): "3ab14edd2b5173fe",
    ("real-only", 1): "41d9826d53cff46b",
}


def code_files(name: str) -> list[Path]:
    """The generator's module and every generator module it imports, directly or not."""
    todo = [Path(inspect.getsourcefile(get_generator_class(name)))]
    seen: list[Path] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["synthbench", "generators"] and len(parts) == 3:
                    modules = [parts[2]]
                elif node.module == "synthbench.generators":
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for module in modules:
                    file = GENERATORS_DIR / f"{module}.py"
                    if module not in NOT_CODE and file.is_file():
                        todo.append(file)
    return sorted(seen)


def code_digest(files: list[Path]) -> str:
    """sha256 of the files' code with docstrings and comments left out (16 hex digits)."""
    digest = hashlib.sha256()
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        digest.update(f"{path.name}\n{ast.unparse(tree)}\n".encode())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("name", builtin_names(generators))
def test_code_changes_bump_the_code_version(name):
    version = get_generator_class(name).Config.CODE_VERSION
    files = code_files(name)
    digest = code_digest(files)
    recorded = RECORDED.get((name, version))
    where = ", ".join(f"generators/{p.name}" for p in files)
    assert recorded is not None, (
        f"{name}: CODE_VERSION {version} has no recorded digest; add "
        f"({name!r}, {version}): {digest!r} to RECORDED in {__file__}"
    )
    assert digest == recorded, (
        f"{name}: its code ({where}) changed since CODE_VERSION {version} was recorded "
        f"(digest {digest}, recorded {recorded}): bump CODE_VERSION of {name} and retrain or "
        f"mark its shipped checkpoints (their config hash no longer matches), then record "
        f"({name!r}, {version + 1}): {digest!r}; if the change leaves every trained weight and "
        f"sample as it was, record {digest!r} for version {version} instead"
    )


def test_the_digest_ignores_docstrings_and_comments_but_not_code(tmp_path):
    a = tmp_path / "a.py"
    a.write_text('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # why\n')
    base = code_digest([a])
    a.write_text('"""Other words."""\n\n\ndef f(x):\n    # a comment\n    return x + 1\n')
    assert code_digest([a]) == base
    a.write_text('"""Doc."""\n\ndef f(x):\n    return x + 2\n')
    assert code_digest([a]) != base


def test_the_code_version_enters_the_config_hash():
    from dataclasses import dataclass
    from typing import ClassVar

    cls = get_generator_class("ddpm").Config
    config = cls.for_profile("smoke")

    @dataclass(frozen=True)
    class Bumped(cls):
        CODE_VERSION: ClassVar[int] = 2

    bumped = Bumped.from_dict(config.to_dict())
    assert bumped.config_hash("ddpm") != config.config_hash("ddpm")
    assert bumped.trajectory_hash("ddpm") != config.trajectory_hash("ddpm")
