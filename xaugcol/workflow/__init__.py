"""Whole studies from one configuration: ``xaugcol demo`` and ``xaugcol study``."""
