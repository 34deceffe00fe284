"""Env contract helpers and wrappers (gymnasium API)."""
