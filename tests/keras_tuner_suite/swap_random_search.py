"""pytest plugin: every `keras_tuner.RandomSearch` is a `keras_prune_nas.PruneSearch`.

Used by `tests/test_keras_tuner_suite.py` to run keras_tuner's own tuner tests
against PruneSearch (`python -m pytest -p swap_random_search ...`).
"""

import keras_tuner
from keras_tuner import tuners
from keras_tuner.src.tuners import randomsearch

import keras_prune_nas

keras_tuner.RandomSearch = keras_prune_nas.PruneSearch
tuners.RandomSearch = keras_prune_nas.PruneSearch
randomsearch.RandomSearch = keras_prune_nas.PruneSearch
