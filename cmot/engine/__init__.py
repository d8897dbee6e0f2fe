"""Engine: a view of a dataset (filters, segmentation) as SQL, and the one pass that reads
its rows into per-segment sufficient statistics, on DuckDB or Spark, with the importance
computed from those sums.

May import: the vocabulary, cmot.ingest, cmot.store and cmot.waves.
"""
