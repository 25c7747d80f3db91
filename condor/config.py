"""The submit configuration (YAML), validated: every error names the field. See ``condor/submit.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from xaugcol.processing.executors import DEFAULT_CHUNKSIZE

TOP = {"fileset", "files_per_job", "chunksize", "skip_bad_files", "process_options", "transfer_inputs",
       "resources", "environment", "x509_proxy", "extra"}
RESOURCES = {"cpus", "memory", "disk"}
ENVIRONMENT = {"tarball", "setup", "container"}
# sizes as HTCondor reads them: K, M, G, T (with or without B / iB) are powers of 1024
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
# submit-description command names: letters, digits, '_', '.', and a leading '+' for custom ClassAd attributes
COMMAND = re.compile(r"^\+?[A-Za-z][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class SubmitConfig:
    fileset: Path
    files_per_job: int = 1
    chunksize: int = DEFAULT_CHUNKSIZE
    skip_bad_files: bool = False
    process_options: tuple[str, ...] = ()
    transfer_inputs: bool = False
    cpus: int = 1
    memory: str = "4GB"
    disk: str = "8GB"
    tarball: str | None = None  # a packed venv: a path here or a URL HTCondor can fetch (osdf://, root://, ...)
    setup: tuple[str, ...] = ()  # shell lines run before xaugcol (e.g. an LCG view on CVMFS)
    container: str | None = None
    x509_proxy: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def memory_mb(self) -> int:
        """request_memory in MiB (HTCondor's unit)."""
        return -(-parse_size(self.memory) // 2**20)

    @property
    def disk_kb(self) -> int:
        """request_disk in KiB (HTCondor's unit)."""
        return -(-parse_size(self.disk) // 2**10)

    @classmethod
    def load(cls, path: str | Path) -> SubmitConfig:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"submit config {path}: cannot read it as YAML: {err}") from None
        return cls.from_dict(data, path.parent, str(path))

    @classmethod
    def from_dict(cls, data, base: Path = Path("."), where: str = "submit config") -> SubmitConfig:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping")
        _known(data, TOP, where)
        if not isinstance(data.get("fileset"), str):
            raise ValueError(f"{where}: 'fileset' (the path of a fileset JSON) is required")
        resources = data.get("resources") or {}
        env = data.get("environment") or {}
        _known(resources, RESOURCES, f"{where}: resources")
        _known(env, ENVIRONMENT, f"{where}: environment")
        for key in ("memory", "disk"):
            value = str(resources.get(key, getattr(cls, key)))
            try:
                if parse_size(value) <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{where}: resources: {key} must be a size like 4GB, got {value!r}") from None
        extra = data.get("extra") or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{where}: extra must map submit commands to values")
        for key, value in extra.items():
            if not (isinstance(key, str) and COMMAND.match(key)) or "\n" in str(value):
                raise ValueError(f"{where}: extra: {key!r} is not a submit command name (or its value has a "
                                 "line break)")
        return cls(
            fileset=(base / data["fileset"]).resolve(),
            files_per_job=_positive(data.get("files_per_job", 1), f"{where}: files_per_job"),
            chunksize=_positive(data.get("chunksize", DEFAULT_CHUNKSIZE), f"{where}: chunksize"),
            skip_bad_files=_bool(data.get("skip_bad_files", False), f"{where}: skip_bad_files"),
            process_options=_strings(data.get("process_options", []), f"{where}: process_options"),
            transfer_inputs=_bool(data.get("transfer_inputs", False), f"{where}: transfer_inputs"),
            cpus=_positive(resources.get("cpus", 1), f"{where}: resources: cpus"),
            memory=str(resources.get("memory", cls.memory)), disk=str(resources.get("disk", cls.disk)),
            tarball=_optional_str(env.get("tarball"), f"{where}: environment: tarball"),
            setup=_strings(env.get("setup", []), f"{where}: environment: setup"),
            container=_optional_str(env.get("container"), f"{where}: environment: container"),
            x509_proxy=_bool(data.get("x509_proxy", False), f"{where}: x509_proxy"),
            extra={k: str(v) for k, v in extra.items()},
        )


def parse_size(text: str) -> int:
    """Bytes in a size as HTCondor reads it ("4GB" = 4 GiB; a bare number is bytes here)."""
    match = SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))


def _known(data, allowed: set, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(allowed)}")


def _positive(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive integer, got {value!r}")
    return value


def _bool(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value


def _strings(value, where: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
        raise ValueError(f"{where} must be a list of strings")
    if any("\n" in str(v) for v in value):
        raise ValueError(f"{where}: no line breaks in an entry")
    return tuple(str(v) for v in value)


def _optional_str(value, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where} must be a string")
    return value
