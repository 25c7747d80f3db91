"""Pythia instances from lists of settings, with Pythia's own verdict turned into one-line errors.

Pythia reports a setting it does not know, or a value it cannot use, by printing to the C++ standard output and
returning false; an initialisation it cannot do, by printing an abort message. ``configured_pythia`` captures
that output (at the file-descriptor level: it does not pass through Python's ``sys.stdout``) and raises a
``GeneratorError`` naming the setting, or quoting Pythia's abort line. ``rejected_settings`` checks settings
without initialising (a process card, when it is read).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from xaugcol.errors import UsageError
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    import pythia8mc


class GeneratorError(UsageError):
    """Pythia refuses a process's settings: names the process and the setting, or what Pythia said."""


@contextlib.contextmanager
def _captured_stdout():
    """The process's standard output (fd 1) into a temporary file for the block; yields a function that returns
    what was written."""
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        text = {"said": ""}
        try:
            yield lambda: text["said"]
        finally:
            libc.fflush(None)  # what C++ wrote through stdio's buffer
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            text["said"] = sink.read().decode(errors="replace")


def _pythia():
    import pythia8mc

    return pythia8mc.Pythia("", False)


def rejected_settings(settings: Iterable[str]) -> list[str]:
    """The settings Pythia does not accept (unknown names, values it cannot read), without initialising it.

    Parameters
    ----------
    settings : iterable of str
        Pythia settings, ``"Key = value"`` strings.

    Returns
    -------
    list of str
        The settings Pythia's ``readString`` refuses, in order; empty when it takes them all.
    """
    pythia = _pythia()
    with _captured_stdout():
        return [line for line in settings if not pythia.readString(line)]


def configured_pythia(settings: Sequence[str], what: str = "the process") -> pythia8mc.Pythia:
    """A Pythia with ``settings``, initialised.

    A ``GeneratorError`` naming ``what`` when Pythia refuses a setting or cannot initialise. Pythia's own output
    is captured meanwhile.

    Parameters
    ----------
    settings : sequence of str
        Pythia settings, ``"Key = value"`` strings, read in order.
    what : str, default "the process"
        What the settings are for, for the error's message (e.g. ``"process 'zz'"``).

    Returns
    -------
    pythia8mc.Pythia
        The initialised Pythia.

    Raises
    ------
    GeneratorError
        Naming ``what`` and the first setting Pythia rejects, or quoting Pythia's error lines when it cannot
        initialise.
    """
    pythia = _pythia()
    with _captured_stdout():
        rejected = [line for line in settings if not pythia.readString(line)]
        initialised = not rejected and pythia.init()
    if rejected:
        raise GeneratorError(f"Pythia rejected the setting {quoted(rejected[0])} of {what}")
    if not initialised:
        raise GeneratorError(f"Pythia could not initialise {what}: {_why_not(settings)}")
    return pythia


def _why_not(settings) -> str:
    """Pythia's error lines when it initialises ``settings`` again with its messages on (``Print:quiet`` hides
    them, and turning it off again does not bring them back)."""
    pythia = _pythia()
    with _captured_stdout() as said:
        for line in settings:
            if not line.replace(" ", "").lower().startswith("print:quiet"):
                pythia.readString(line)
        pythia.init()
    reason = [" ".join(line.split()) for line in said().splitlines() if "PYTHIA Error" in line or "Abort" in line]
    return "; ".join(reason[-2:]) or "no reason given"
