"""Event sources: every generator writes the same NanoAOD-style layout (see nanoaod.py)."""
