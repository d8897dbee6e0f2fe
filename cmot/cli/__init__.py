"""The command line, `python -m cmot`: one module per group of commands and their shared
flags. A front end beside the UI; never Streamlit.

May import: the vocabulary and every stage before it (up to cmot.present).
"""
