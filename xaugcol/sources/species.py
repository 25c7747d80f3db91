"""Charge and visibility of Pythia's particle species, asked once per species."""

from __future__ import annotations

import numpy as np


class SpeciesTable:
    """Charge and visibility per PDG id, asked of Pythia's ParticleData once per species (not per particle).

    Parameters
    ----------
    particle_data : object
        Pythia's ``ParticleData`` (``pythia.particleData``), with ``charge(id)`` and ``isVisible(id)``.
    """

    def __init__(self, particle_data):
        self._pd = particle_data
        self._ids = np.zeros(0, dtype=np.int64)
        self._charge = np.zeros(0)
        self._visible = np.zeros(0, dtype=bool)

    def _learn(self, ids: np.ndarray) -> None:
        new = np.setdiff1d(np.unique(ids), self._ids)
        if len(new):
            ids_all = np.concatenate([self._ids, new])
            charge = np.concatenate([self._charge, [self._pd.charge(int(i)) for i in new]])
            visible = np.concatenate([self._visible, [bool(self._pd.isVisible(int(i))) for i in new]])
            order = np.argsort(ids_all)
            self._ids, self._charge, self._visible = ids_all[order], charge[order], visible[order]

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Charge and visibility of each particle, asking Pythia only about species not seen before.

        Parameters
        ----------
        ids : numpy.ndarray
            PDG ids, flat.

        Returns
        -------
        charge : numpy.ndarray
            Each particle's charge, in units of e (float).
        visible : numpy.ndarray
            Bool per particle: Pythia's ``isVisible`` (False for neutrinos and other invisible particles).
        """
        ids = np.asarray(ids, dtype=np.int64)
        self._learn(ids)
        pos = np.searchsorted(self._ids, ids)
        return self._charge[pos], self._visible[pos]
