"""The taggers' inputs: what the jet and lepton tables hold per jet, and how a tagger reads it.

* ``particles``, ``tracks``, ``vertices``: each jet's particle, track and secondary-vertex lists, padded, with masks;
  ``cells``: each lepton's hardest calorimeter cells;
* ``images``: the jet images (Agarwal, Rappoccio et al., arXiv:2011.13466);
* ``packed``: array columns without their empty part (``PackedArray``);
* ``efp``: energy-flow polynomials (Komiske, Metodiev, Thaler), and lepton-anchored ones;
* ``scaler``: the scalers of a tagger's inputs, fitted on the training split and saved with the tagger;
* ``kinds``: the input kinds, the one contract training, explaining and figures use for each kind of input.
"""
