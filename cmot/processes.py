"""Whether a process still runs: what the store's per-process folders and an upload's
temporary copies are judged by when their owner may have been killed."""

from __future__ import annotations

import os


def pid_running(pid: int) -> bool:
    """Whether process `pid` exists (no signal is sent)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
