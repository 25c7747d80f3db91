import os
from pathlib import Path

import pytest



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
