"""AK8 jets from NanoAOD-style events: their constituents, secondary vertices, track geometry and substructure.

* ``constituents``: each jet's PF candidates, whatever the file's layout (PFNano, NanoAODv15), or none (plain
  NanoAOD: the ``stored`` layout);
* ``substructure``: the XAUG variables (SoftDrop, N-subjettiness, N2, D2) with FastJet and fastjet-contrib, by the
  C++ extension or fastjet's Python API (``backend``, ``fastjet_api``);
* ``stored``: the XAUG variables from the branches CMS stores, for files without PF candidates;
* ``vertices`` and ``track_geometry``: the secondary vertices of each jet and the per-track b-tagging variables.
"""
