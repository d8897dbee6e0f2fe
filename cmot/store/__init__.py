"""Store: the catalog, the datasets' immutable versions, segmentations, links and
external sources, and the one write path (`intake`: a survey file into a stored dataset;
`append`: a batch into a new version).

May import: the vocabulary and cmot.ingest.
"""
