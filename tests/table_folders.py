"""Hand-made jet tables for tests, in the layout readers accept: a processing output folder whose report lists
them (training and explaining read only the tables a processing report lists)."""

from pathlib import Path

from xaugcol.atomic import write_json
from xaugcol.processing.jet_table import ProcessingConfig
from xaugcol.processing.table_io import write_table


def processed_folder_of(folder: Path, columns: dict, name: str = "hand/chunk.parquet") -> Path:
    """``folder`` made a processing output holding one jet table of ``columns``, listed in its report."""
    write_table(folder / "jets" / name, columns)
    write_json(folder / "report.json", {"tables": {name: len(columns["label"])},
                                        "config": ProcessingConfig().as_dict()})
    return folder
