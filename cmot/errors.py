"""The one exception type for errors a user can cause and fix, and engine errors made fit to
show."""

import re


class CmotError(Exception):
    """A problem with the user's input; the message says what to do about it."""


def engine_message(error: BaseException, limit: int = 300) -> str:
    """An engine's error as a user may read it: DuckDB's message without the query it quotes
    (`LINE 1: SELECT ...` and the caret under it), on one line, at most `limit` characters.
    A query is no help to whoever reads the message, and a refusal must not show one."""
    text = re.split(r"\n\s*LINE \d+:", str(error), maxsplit=1)[0]
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"
