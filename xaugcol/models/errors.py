"""Errors of model folders, importable without torch (the command line reports them)."""


class ModelFileError(ValueError):
    """A model folder or file that cannot be loaded safely; names the file."""
