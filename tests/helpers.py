"""Helpers the tests share: hand-made jet tables in the layout readers accept, the one-line error a user must get,
and a call that must finish (run in a thread, so that a hang fails the test instead of the suite)."""

import contextlib
import subprocess
import sys
import threading
from pathlib import Path

from xaugcol.atomic import write_json
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.table_io import write_table


def processed_folder_of(folder: Path, columns: dict, name: str = "hand/chunk.parquet") -> Path:
    """``folder`` made a processing output holding one jet table of ``columns``, listed in its report (training
    and explaining read only the tables a processing report lists)."""
    write_table(folder / "jets" / name, columns)
    write_json(folder / "report.json", {"tables": {name: len(columns["label"])},
                                        "config": ProcessingConfig().as_dict()})
    return folder


def one_line_error(capsys) -> str:
    """What the command printed on stderr, checked to be one line and no traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err[:2000]
    return err


def run_in_thread(seconds: float, function, *args, **kwargs) -> tuple[bool, dict]:
    """``function(*args, **kwargs)`` in a daemon thread, waited for ``seconds``: (whether it finished, {"value": what
    it returned} or {"error": what it raised}). A call still running is left to the caller to unblock."""
    result: dict = {}

    def body():
        try:
            result["value"] = function(*args, **kwargs)
        except BaseException as err:  # handed to the test
            result["error"] = err
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(seconds)
    result["thread"] = thread
    return not thread.is_alive(), result


def outcome(result: dict):
    """Raise what the call raised, or return what it returned."""
    if "error" in result:
        raise result["error"]
    return result.get("value")


@contextlib.contextmanager
def held(function: str, folder: Path):
    """Another process holds ``folder``'s lock as ``function`` (output_lock: a writer, read_lock: a reader) while
    the block runs."""
    code = (f"import sys, time; from xaugcol.output_folder import {function}\n"
            f"with {function}(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()
