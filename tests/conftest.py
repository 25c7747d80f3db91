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
