"""Waves: which rows are which wave (a column, a period of a date, linked datasets) and
how the columns of linked datasets match (`harmonise`).

May import: the vocabulary, cmot.ingest and cmot.store.
"""
