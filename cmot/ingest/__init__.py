"""Ingest: a survey file read, its mapping proposed and chosen, its cleaning planned.

Nothing here stores anything: the result is a raw table in DuckDB, a `Detection`, the
chosen `JourneySpec` and the cleaning SELECT with its `ValidationReport`. The Data page and
the command line's flags share these rules (`mapping_rules`, `mapping_tables`).

May import: the vocabulary (cmot.errors, cmot.names, cmot.text, cmot.spec, cmot.settings).
"""
