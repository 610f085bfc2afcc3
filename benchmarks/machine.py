"""The machine and commit a benchmark ran on, for the line every table starts with."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description(threads: int | None) -> str:
    """System, CPU, cores, torch and Python, and the torch threads (left out when None: a
    benchmark whose runs set their own)."""
    text = (f"{platform.system()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
            f"torch {torch.__version__}, Python {platform.python_version()}")
    return text if threads is None else f"{text}, {threads} thread(s)"


def revision() -> str:
    """``git rev-parse --short HEAD``, with '+changes' when the tree differs from it; 'unknown'
    outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")
