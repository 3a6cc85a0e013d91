"""generators/ and tasks/ install as synthbench.generators / synthbench.tasks, never top-level."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_maps_plugin_folders():
    import synthbench.generators
    import synthbench.tasks

    assert Path(synthbench.generators.__file__).parent == ROOT / "generators"
    assert Path(synthbench.tasks.__file__).parent == ROOT / "tasks"
    probe = subprocess.run(
        [sys.executable, "-c", "import tasks"], capture_output=True, text=True, cwd="/", timeout=60
    )
    assert probe.returncode != 0, "a top-level package 'tasks' must not be importable"


@pytest.mark.slow
def test_wheel_contains_namespaced_packages(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("synthbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "synthbench/generators/__init__.py" in names
    assert "synthbench/tasks/__init__.py" in names
    assert "synthbench/data/phantoms/oct.py" in names
    for module in (
        "cli/__init__.py",
        "cli/run.py",
        "runner/plan.py",
        "leaderboard/html.py",
        "nets.py",
    ):
        assert f"synthbench/{module}" in names, module
    assert not any(n.startswith(("tasks/", "generators/", "tests/")) for n in names)


def test_the_version_is_the_installed_distributions():
    """Rows, cohorts and checkpoints record ``synthbench.__version__``: it must be the version
    the package was installed as (pyproject's), not a constant that drifts from it."""
    from importlib.metadata import version
    from pathlib import Path

    import tomllib

    import synthbench

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert synthbench.__version__ == version("synthbench") == pyproject["project"]["version"]
