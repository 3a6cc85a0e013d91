"""What machine a result came from: CPU, cores, system, torch and the compute device."""

from __future__ import annotations

from pathlib import Path


def torch_version() -> str:
    import torch

    return torch.__version__


def host_description() -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores, {platform.system()}"


#: the packages whose versions a results manifest records
PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "diffusers",
    "transformers",
    "torchmetrics",
    "lifelines",
    "datasets",
    "numpy",
    "scikit-learn",
    "ray",
)


def environment() -> dict[str, object]:
    """What a manifest records of the code and machine: synthbench's version and git commit,
    Python, the installed versions of :data:`PACKAGES`, the host name and its CPU."""
    import contextlib
    import platform
    from importlib import metadata

    from synthbench import __version__
    from synthbench.results import git_sha

    packages = {}
    for dist in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[dist] = metadata.version(dist)
    return {
        "synthbench_version": __version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "packages": packages,
        "host": platform.node(),
        "cpu": host_description(),
    }


def script_output(folder: Path, script: str) -> Path:
    """For a benchmark script, before any work: exit with one line unless it may write
    ``folder`` whole, that is a new or empty folder, or an earlier output of the same ``script``
    (its manifest names it), which the new output replaces. The script then writes through
    :func:`synthbench.io.atomic_dir`, so an interrupted run leaves the old folder as it was."""
    import json
    import sys

    from synthbench.cli.outputs import output_folder
    from synthbench.errors import SynthbenchError

    def earlier(path: Path) -> bool:
        try:
            return json.loads((path / "manifest.json").read_text()).get("script") == script
        except (OSError, ValueError, AttributeError):
            return False

    try:
        return output_folder(Path(folder), replaces=earlier, what=f"an earlier output of {script}")
    except SynthbenchError as exc:
        sys.exit(f"error: {exc}")


def write_script_manifest(
    folder: Path,
    script: str,
    started: float,
    *,
    threads: int,
    precision: dict[str, str],
    device: str = "cpu",
    **details: object,
) -> Path:
    """``folder/manifest.json`` of a benchmark script's run: the script and its arguments, what
    it ran on (``details``, in the order given), :func:`environment`, its threads, device and
    precision, the seconds since ``started`` (a :func:`time.perf_counter` reading) and when it
    was written. Written whole or not at all."""
    import json
    import sys
    import time

    manifest = {
        "script": script,
        "argv": sys.argv[1:],
        **details,
        **environment(),
        "threads": threads,
        "device": device,
        "precision": precision,
        "seconds": round(time.perf_counter() - started, 1),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = Path(folder) / "manifest.json"
    tmp = path.with_name(".manifest.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(path)
    return path
