"""Results: everything computed from the sums, never from rows: moments, classes, stakes,
partial pooling, comparisons between segments, the headline, what-if, sensitivity and
trends across waves.

May import: the vocabulary and the stages before it (up to cmot.engine).
"""
