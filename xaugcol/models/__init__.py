"""The taggers: their architectures, configuration, folders and batching.

* ``registry``: ``ModelConfig``, a tagger's validated configuration, and ``build_model``, which builds any tagger
  of ``MODELS`` from it;
* ``taggers``, ``interaction``, ``deep_sets``, ``particlenet``: the tagger classes (a body, the XAUG variables
  optionally joined, a dense head), built only from layers LRP explains;
* ``architecture``: the checks of the architecture options and of the parameter count;
* ``folder``: tagger folders (``config.yaml``, ``model.pt``, ``scaler.json``, ``metrics.json``, ``model.onnx``),
  written atomically and loaded safely (``errors``: ``ModelFileError``);
* ``batching``: the batches of inference and explanation passes, cut to the jets' real objects;
* ``weaver``: ParticleNet models trained with weaver-core, imported as taggers.
"""
