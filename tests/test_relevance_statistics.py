"""Agarwal, Rappoccio et al.'s (arXiv:2011.13466) mean normalised relevance per input feature, on hand-made relevance."""

import numpy as np
import pytest

from xaugcol.explain.statistics import feature_names, normalised_feature_relevance
from xaugcol.features.particles import FEATURES


def test_normalised_relevance_by_hand():
    image = np.zeros((3, 1, 2, 2))
    particles = np.zeros((3, 4, len(FEATURES)))
    xaug = np.zeros((3, 2))
    # jet 0: largest |R| is the XAUG -4 -> everything divided by 4
    image[0, 0] = [[1.0, -1.0], [0.5, 0.0]]
    particles[0, 0, 0], particles[0, 3, 0], particles[0, 1, 5] = 2.0, -1.0, 0.5
    xaug[0] = [-4.0, 1.0]
    # jet 1: largest |R| sits in a pixel
    image[1, 0, 1, 1] = -10.0
    xaug[1] = [5.0, 0.0]
    # jet 2: no relevance at all
    result = normalised_feature_relevance({"image": image, "particles": particles, "xaug": xaug}, ("msd", "tau21"))
    assert result.names == ["image"] + [f"particle:{f}" for f in FEATURES] + ["msd", "tau21"]
    assert result.n_zero == 1 and result.kept.tolist() == [True, True, False]
    v = dict(zip(result.names, result.values.T))
    np.testing.assert_allclose(v["image"], [2.5 / 4, 1.0])
    np.testing.assert_allclose(v[f"particle:{FEATURES[0]}"], [3.0 / 4, 0.0])
    np.testing.assert_allclose(v[f"particle:{FEATURES[5]}"], [0.5 / 4, 0.0])
    np.testing.assert_allclose(v["msd"], [1.0, 0.5])
    np.testing.assert_allclose(v["tau21"], [0.25, 0.0])
    assert result.values.max() <= len(FEATURES) * 4  # bounded: every normalised entry is at most 1 in size


def test_bad_relevance_is_named():
    with pytest.raises(ValueError, match="relevance of 'xaug' has NaN or inf in 1 jet"):
        normalised_feature_relevance({"xaug": np.array([[1.0, np.nan], [1.0, 2.0]])}, ("a", "b"))
    with pytest.raises(ValueError, match="features, the names"):
        normalised_feature_relevance({"xaug": np.ones((2, 3))}, ("a", "b"))
    with pytest.raises(ValueError, match="unknown tagger input"):
        feature_names(("jets",))
