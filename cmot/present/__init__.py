"""Present: what a person reads: tables in plain words, charts (Altair), the report's
files and the one-page brief. Never Streamlit.

May import: the vocabulary and the stages before it (up to cmot.feedback).
"""
