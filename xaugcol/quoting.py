"""How messages quote a user's values: cut to ``QUOTE_LIMIT`` characters with a note of the full length, so that
no message carries a whole file or a huge value (a YAML list of a hundred thousand items, a long string), and
writing one never costs more than the value's ``repr``.

    quoted("lots")            -> 'lots'
    quoted(["lol"] * 10_000)  -> ['lol', 'lol', (the first 100 characters) ... (70000 characters)
"""

from __future__ import annotations

QUOTE_LIMIT = 100  # characters of a user's value that a message quotes


def shortened(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` itself when at most ``limit`` characters long, else its start and its length.

    Parameters
    ----------
    text : str
        The text to quote.
    limit : int, default ``QUOTE_LIMIT``
        The most characters kept.

    Returns
    -------
    str
        ``text``, or its first ``limit`` characters followed by ``... (<length> characters)``.
    """
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, ``shortened`` to ``limit`` characters.

    Parameters
    ----------
    value : object
        Any value a user gave.
    limit : int, default ``QUOTE_LIMIT``
        The most characters of its ``repr`` kept.

    Returns
    -------
    str
        The ``repr``, cut as ``shortened`` does.
    """
    return shortened(repr(value), limit)
