"""Segments: given, clustered and driver-based segmentations, their profiles and names.

May import: the vocabulary and the stages before it (up to cmot.results).
"""
