"""Integrity, third round: inputs that were taken silently, or hung or exhausted the machine.

* Duplicate keys: a YAML file (a study with ``epochs`` twice in one mapping) is refused in one line naming the
  file, the key and the places, instead of keeping the last value; ``<<:`` merges, where a key overrides a merged
  one, keep working.
"""

from pathlib import Path

import pytest

from helpers import one_line_error
from xaugcol.cli import main
from xaugcol.config_models import read_yaml

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- duplicate keys

def test_a_study_listing_a_key_twice_is_refused(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(f"data: {tmp_path}\nout: {tmp_path / 'taggers'}\ntraining: {{epochs: 1, epochs: 3}}\n"
                     "taggers: [{model: dnn}]\n")
    assert main(["train", "--config", str(study)]) == 2
    err = one_line_error(capsys)
    assert str(study) in err and "the key 'epochs' appears twice in one mapping, at line 3, column 12 and at " \
                                 "line 3, column 23" in err, err
    assert not (tmp_path / "taggers").exists()


def test_yaml_merge_keys_may_override_what_they_merge(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("defaults: &defaults {epochs: 1, patience: 2}\n"
                    "short:\n  <<: *defaults\n  epochs: 3\n"
                    "nested:\n  inner: &inner\n    <<: *defaults\n    patience: 5\n"
                    "  again:\n    <<: *inner\n    epochs: 7\n")
    assert read_yaml(path, "test file") == {"defaults": {"epochs": 1, "patience": 2},
                                            "short": {"epochs": 3, "patience": 2},
                                            "nested": {"inner": {"epochs": 1, "patience": 5},
                                                       "again": {"epochs": 7, "patience": 5}}}


@pytest.mark.parametrize("path", sorted([*REPO.glob("configs/*.yaml"), *REPO.glob("condor/*.yaml")]),
                         ids=lambda p: p.name)
def test_the_shipped_configurations_have_no_duplicate_keys(path):
    assert isinstance(read_yaml(path, "shipped configuration"), dict)
