"""Cheap neural architecture search for Keras: cull the worst candidates every epoch.

```python
import keras_prune_nas as kpn

tuner = kpn.PruneSearch(build_model, objective="val_accuracy", max_trials=50)
tuner.search(x, y, epochs=20, validation_data=(x_val, y_val))
best_model = tuner.get_best_models(1)[0]
```
"""

from keras_prune_nas.hypermodel import NASHyperModel
from keras_prune_nas.hypermodel import SearchSpace
from keras_prune_nas.oracle import PruneOracle
from keras_prune_nas.tuner import ContinuingCallbacks
from keras_prune_nas.tuner import PruneSearch

__version__ = "0.1.0"

__all__ = [
    "ContinuingCallbacks",
    "NASHyperModel",
    "PruneOracle",
    "PruneSearch",
    "SearchSpace",
    "__version__",
]
