"""Neural Architecture Optimization (Luo et al., NeurIPS 2018) for any
keras_tuner search space.

* `keras_prune_nas.nao.codec`: architectures as token sequences, one token
  position per hyperparameter, and back (decoding masked to valid values).
"""
