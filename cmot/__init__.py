"""cmot: segment-specific customer moments of truth."""

from cmot.errors import CmotError

__all__ = ["CmotError"]
__version__ = "0.1.0"
