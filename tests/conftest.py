import os
from pathlib import Path

import pytest

# pytest-xdist runs one test process per core: each computes on one thread (torch's and the BLAS's, inherited by
# the processes a test starts), or the processes oversubscribe the cores and torch's waiting threads spin (one
# training test ran 5x slower on 2 cores)
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_variable] = "1"


@pytest.fixture(scope="session")
def cms_samples() -> Path:
    """The real CMS samples of ../shared/data/cms (or $XAUGCOL_CMS_SAMPLES); skip when absent."""
    candidates = [os.environ.get("XAUGCOL_CMS_SAMPLES"), Path(__file__).resolve().parents[1] / "../shared/data/cms"]
    for c in candidates:
        if c and (Path(c) / "pfnano.root").exists():
            return Path(c).resolve()
    pytest.skip("real CMS samples not found (set XAUGCOL_CMS_SAMPLES or provide ../shared/data/cms)")


@pytest.fixture
def substructure_extension():
    """The C++ substructure extension; skipped where it is not built (a machine without a compiler, or a fastjet
    other than the build's: the fallback runs there), unless $XAUGCOL_REQUIRE_EXTENSION is set, as CI sets it."""
    from xaugcol.jets import backend

    module, why_not = backend.load_extension()
    if module is None:
        if os.environ.get("XAUGCOL_REQUIRE_EXTENSION"):
            pytest.fail(f"XAUGCOL_REQUIRE_EXTENSION is set, but {why_not}")
        pytest.skip(f"{why_not}: only the fastjet-API fallback can be tested here")
    return module


@pytest.fixture(scope="module")
def trained_toy(tmp_path_factory) -> Path:
    """A folder holding toy jets (``toy/``, 300 per class), their processing (``proc/``, chunks of 150) and a
    one-member DNN ensemble trained for one epoch (``dnn/``): the pieces of a finished run that tests of the
    commands' refusals start from."""
    from xaugcol.models.registry import ModelConfig
    from xaugcol.processing.coffea_runner import load_fileset
    from xaugcol.coffea_runs import run_processing
    from xaugcol.sources.toy import run_toy
    from xaugcol.training.train import TrainConfig, train_ensemble

    root = tmp_path_factory.mktemp("trained_toy")
    run_toy(root / "toy", 300, seed=61)
    run_processing(load_fileset(root / "toy" / "fileset.json"), root / "proc", chunksize=150)
    train_ensemble(str(root / "proc" / "jets"), ModelConfig("dnn", xaug=True, architecture={"hidden": [8]}),
                   TrainConfig(epochs=1, batch_size=128), [0], str(root / "dnn"))
    return root
