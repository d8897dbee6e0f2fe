"""cmot: segment-specific customer moments of truth.

The package's folders are the stages of the data flow, in order; a module imports only
from its own stage, from earlier stages and from the shared vocabulary, never from a later
stage (tests/unit/test_layers.py checks every import against these two tuples, and
docs/ARCHITECTURE.md's list of stages against them).
"""

from cmot.errors import CmotError

# Modules every stage may import: the words they share. They import only each other.
VOCABULARY = ("errors", "names", "text", "spec", "settings", "processes")
# The stages of the data flow, earliest first: cmot/<stage>/ imports cmot/<earlier>/ only.
STAGES = (
    "ingest",
    "store",
    "waves",
    "engine",
    "results",
    "segments",
    "feedback",
    "present",
    "cli",
    "ui",
)

__all__ = ["STAGES", "VOCABULARY", "CmotError"]
__version__ = "0.1.0"
