"""Web dashboard (FastAPI): the only package that may import fastapi; state.py does not."""
