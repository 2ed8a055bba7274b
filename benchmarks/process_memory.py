"""The peak resident memory of this process itself.

`getrusage(RUSAGE_SELF).ru_maxrss` is no good for a benchmark's child process on Linux: it keeps
the high-water mark across `exec`, so a child started by a parent holding 800 MB reports at least
800 MB whatever it does. `VmHWM` in /proc/self/status is the peak of the process's own memory
since its `exec`.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak RSS of this process since it started, in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
