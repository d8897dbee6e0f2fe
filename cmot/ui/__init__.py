"""The only cmot code that imports streamlit: caching, shared widgets, URL state."""
