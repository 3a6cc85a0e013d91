"""What machine a result came from: CPU, cores, system, torch and the compute device."""

from __future__ import annotations


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
