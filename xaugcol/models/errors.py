"""Errors of model folders, importable without torch (the command line reports them)."""

from xaugcol.errors import ModelFilesError


class ModelFileError(ModelFilesError):
    """A model folder or file that cannot be loaded safely; names the file."""
