"""Neural Architecture Optimization (Luo et al., NeurIPS 2018) for any
keras_tuner search space, feeding the per-epoch cull.

* `keras_prune_nas.nao.codec`: architectures as token sequences, one token
  position per hyperparameter, and back (decoding masked to valid values);
* `keras_prune_nas.nao.model`: the encoder, predictor and decoder (Keras 3,
  on TensorFlow, JAX or PyTorch; `keras_prune_nas.nao.gradients` takes
  its gradients on each);
* `keras_prune_nas.nao.oracle`: `NAOOracle` and `NAOSearch`.

The classes load on first use, so `import keras_prune_nas.nao` stays light.
"""

import importlib

_PUBLIC = {
    "NAOModel": "keras_prune_nas.nao.model",
    "NAOOracle": "keras_prune_nas.nao.oracle",
    "NAOSearch": "keras_prune_nas.nao.oracle",
    "SearchSpaceCodec": "keras_prune_nas.nao.codec",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_prune_nas.nao' has no attribute {name!r}")
