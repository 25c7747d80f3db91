"""The submit configuration (YAML), validated by pydantic models: every error names the file and the field. See
``condor/submit.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from xaugcol.config_models import Bool, ConfigModel, PositiveInt, read_yaml, validated
from xaugcol.processing.executors import DEFAULT_CHUNKSIZE
from xaugcol.quoting import quoted

# sizes as HTCondor reads them: K, M, G, T (with or without B / iB) are powers of 1024
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
# submit-description command names: letters, digits, '_', '.', and a leading '+' for custom ClassAd attributes
COMMAND = re.compile(r"^\+?[A-Za-z][A-Za-z0-9_.]*$")


def _size(value):
    try:
        if parse_size(str(value)) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"must be a size like 4GB, got {quoted(value)}") from None
    return str(value)


def _one_line(values):
    values = _strings(values)
    if any("\n" in v for v in values):
        raise ValueError("no line breaks in an entry")
    return values


def _strings(values):
    if not (isinstance(values, list) and all(isinstance(v, (str, int, float)) for v in values)):
        raise ValueError("must be a list of strings")
    return tuple(str(v) for v in values)


Size = Annotated[str, BeforeValidator(_size)]
Lines = Annotated[tuple[str, ...], BeforeValidator(_one_line)]


class Resources(ConfigModel):
    """What each job asks HTCondor for: CPU cores, memory and disk (sizes such as ``4GB``)."""

    cpus: PositiveInt = 1
    memory: Size = "4GB"
    disk: Size = "8GB"


class Environment(ConfigModel):
    """Where a job finds xaugcol: a packed virtual environment, shell lines run first, a container image."""

    tarball: str | None = None  # a packed venv: a path here or a URL HTCondor can fetch (osdf://, root://, ...)
    setup: Lines = ()  # shell lines run before xaugcol (e.g. an LCG view on CVMFS)
    container: str | None = None


class SubmitFile(ConfigModel):
    """The submit configuration as written (``condor/submit.yaml``)."""

    fileset: str  # the path of a fileset JSON, relative to the config's folder
    files_per_job: PositiveInt = 1
    chunksize: PositiveInt = DEFAULT_CHUNKSIZE
    skip_bad_files: Bool = False
    process_options: Lines = ()
    transfer_inputs: Bool = False
    resources: Resources = Field(default_factory=Resources)
    environment: Environment = Field(default_factory=Environment)
    x509_proxy: Bool = False
    extra: dict = Field(default_factory=dict)

    @field_validator("resources", "environment", "extra", mode="before")
    @classmethod
    def _empty_section(cls, section):
        return {} if section is None else section

    @field_validator("extra")
    @classmethod
    def _submit_commands(cls, extra):
        for key, value in extra.items():
            if not (isinstance(key, str) and COMMAND.match(key)) or "\n" in str(value):
                raise ValueError(f"{quoted(key)} is not a submit command name (or its value has a line break)")
        return {k: str(v) for k, v in extra.items()}


@dataclass(frozen=True)
class SubmitConfig:
    """An HTCondor submission, validated (``SubmitFile``) and flattened.

    The fileset, how it is split into jobs, what each job runs with and asks for.

    Parameters
    ----------
    fileset : Path
        The fileset JSON, resolved.
    files_per_job : int, default 1
        At most this many files of one dataset per job.
    chunksize : int, default DEFAULT_CHUNKSIZE
        The processing of each job: events per chunk.
    skip_bad_files : bool, default False
        The processing of each job: whether an unreadable file is skipped.
    process_options : tuple of str, default ()
        The processing of each job: more ``xaugcol process`` options.
    transfer_inputs : bool, default False
        HTCondor transfers the input files to the job (else the job reads them where they are).
    cpus : int, default 1
        The CPU cores each job asks for (``Resources``).
    memory : str, default "4GB"
        The memory each job asks for, a size as HTCondor reads it (``parse_size``).
    disk : str, default "8GB"
        The disk each job asks for, a size as HTCondor reads it (``parse_size``).
    tarball : str, optional
        The job's environment (``Environment``): a packed virtual environment, a path here or a URL HTCondor can
        fetch.
    setup : tuple of str, default ()
        The job's environment: shell lines run before xaugcol.
    container : str, optional
        The job's environment: a container image.
    x509_proxy : bool, default False
        Hand the job the grid proxy (for xrootd inputs).
    extra : dict, default {}
        More submit commands, verbatim (command name to value).
    """

    fileset: Path
    files_per_job: int = 1
    chunksize: int = DEFAULT_CHUNKSIZE
    skip_bad_files: bool = False
    process_options: tuple[str, ...] = ()
    transfer_inputs: bool = False
    cpus: int = 1
    memory: str = "4GB"
    disk: str = "8GB"
    tarball: str | None = None
    setup: tuple[str, ...] = ()
    container: str | None = None
    x509_proxy: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def memory_mb(self) -> int:
        """request_memory in MiB (HTCondor's unit), rounded up."""
        return -(-parse_size(self.memory) // 2**20)

    @property
    def disk_kb(self) -> int:
        """request_disk in KiB (HTCondor's unit), rounded up."""
        return -(-parse_size(self.disk) // 2**10)

    @classmethod
    def load(cls, path: str | Path) -> SubmitConfig:
        """From a YAML file (``condor/submit.yaml``); its fileset path is relative to the file's folder.

        Parameters
        ----------
        path : str or Path
            The submit configuration's YAML file.

        Returns
        -------
        SubmitConfig
            The validated configuration; a bad field is a ``ValueError`` naming the file and the field.
        """
        path = Path(path)
        return cls.from_dict(read_yaml(path, "submit config"), path.parent, f"submit config {path}")

    @classmethod
    def from_dict(cls, data: Any, base: Path = Path("."), where: str = "submit config") -> SubmitConfig:
        """From the YAML mapping.

        Parameters
        ----------
        data : Any
            The mapping as read (``SubmitFile``).
        base : Path, default Path(".")
            The folder the fileset path is relative to.
        where : str, default "submit config"
            What the errors name first (the file).

        Returns
        -------
        SubmitConfig
            The validated configuration; a bad field is a ``ValueError`` naming ``where`` and the field.
        """
        f = validated(SubmitFile, data, where)
        return cls(
            fileset=(base / f.fileset).resolve(),
            files_per_job=f.files_per_job,
            chunksize=f.chunksize,
            skip_bad_files=f.skip_bad_files,
            process_options=f.process_options,
            transfer_inputs=f.transfer_inputs,
            cpus=f.resources.cpus,
            memory=f.resources.memory,
            disk=f.resources.disk,
            **f.environment.model_dump(),
            x509_proxy=f.x509_proxy,
            extra=f.extra,
        )


def parse_size(text: str) -> int:
    """Bytes in a size as HTCondor reads it ("4GB" = 4 GiB; a bare number is bytes here).

    Parameters
    ----------
    text : str
        A number with an optional unit K, M, G or T (powers of 1024; with or without B / iB, any case).

    Returns
    -------
    int
        The size in bytes (rounded down).

    Raises
    ------
    ValueError
        ``text`` is not a size.
    """
    match = SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {quoted(text)}")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))
