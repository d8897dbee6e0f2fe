"""The one exception type for errors a user can cause and fix."""


class CmotError(Exception):
    """A problem with the user's input; the message says what to do about it."""
