"""Feedback as it arrives: comments tied to the moments (`evidence`), new batches of
responses (`watch`, `feed`), and alerts with their delivery.

May import: the vocabulary and the stages before it (up to cmot.segments).
"""
