"""Cheap neural architecture search for Keras: cull the worst candidates every epoch.

```python
import keras_prune_nas as kpn

tuner = kpn.PruneSearch(build_model, objective="val_accuracy", max_trials=50)
tuner.search(x, y, epochs=20, validation_data=(x_val, y_val))
best_model = tuner.get_best_models(1)[0]
```

The public classes are imported on first use, so the pure parts
(`keras_prune_nas.engine`, its policies, `keras_prune_nas.culling`,
`keras_prune_nas.analysis`) load without Keras.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "ContinuingCallbacks": "keras_prune_nas.callbacks",
    "NAOOracle": "keras_prune_nas.nao.oracle",
    "NAOSearch": "keras_prune_nas.nao.oracle",
    "NASHyperModel": "keras_prune_nas.hypermodel",
    "PruneOracle": "keras_prune_nas.oracle",
    "PruneSearch": "keras_prune_nas.tuner",
    "RoundOracle": "keras_prune_nas.oracle",
    "RoundPlan": "keras_prune_nas.plan",
    "RoundSearch": "keras_prune_nas.tuner",
    "SearchSpace": "keras_prune_nas.hypermodel",
    "SecretaryOracle": "keras_prune_nas.secretary",
    "SecretarySearch": "keras_prune_nas.secretary",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_prune_nas' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
