"""The round engine and its policies, in pure Python.

Importing this package loads no keras, keras_tuner or backend: the engine
makes every decision of a round-based search from plain values, and the
keras_tuner adapter (`keras_prune_nas.oracle`), the replays
(`keras_prune_nas.analysis`) and the simulations all run it.

* `RoundEngine` (`engine.py`): events in (`ask`, `report_epoch`,
  `end_unit`, `expire_leases`), decisions out (`Work`, `WAIT`, `STOP`).
* Policies (`policies.py`): `RoundPolicy` (every candidate a finalist, as
  RandomSearch), `CullPolicy` (PruneSearch), `SecretaryPolicy`.
* `Population` (`population.py`): the candidate records and their scores.
* `Dispatcher` and `choose_waiting_candidate` (`dispatch.py`): who trains
  what next; `FailurePolicy` (`failures.py`); the answers (`messages.py`);
  `play` (`play.py`: curves instead of training); `Progress` (`progress.py`:
  how far a round has got, for the live line).

The round plan (`keras_prune_nas.plan`), leases (`keras_prune_nas.leases`),
unit costs (`keras_prune_nas.unit_costs`) and the cull's rule functions
(`keras_prune_nas.culling`) were pure before the engine existed and stay
where they are.
"""

from keras_prune_nas.engine.dispatch import choose_waiting_candidate
from keras_prune_nas.engine.messages import FINALISTS
from keras_prune_nas.engine.messages import FINISHED
from keras_prune_nas.engine.messages import SELECTION
from keras_prune_nas.engine.messages import STOP
from keras_prune_nas.engine.messages import WAIT
from keras_prune_nas.engine.messages import EpochAnswer
from keras_prune_nas.engine.engine import RoundEngine
from keras_prune_nas.engine.messages import Stop
from keras_prune_nas.engine.messages import TextDisplay
from keras_prune_nas.engine.messages import Wait
from keras_prune_nas.engine.messages import Work
from keras_prune_nas.engine.messages import format_score
from keras_prune_nas.engine.messages import metrics_finite
from keras_prune_nas.engine.failures import FailurePolicy
from keras_prune_nas.engine.failures import SearchAborted
from keras_prune_nas.engine.policies import CullPolicy
from keras_prune_nas.engine.policies import RoundPolicy
from keras_prune_nas.engine.policies import SecretaryPolicy
from keras_prune_nas.engine.population import COMPLETED
from keras_prune_nas.engine.population import FAILED
from keras_prune_nas.engine.population import STOPPED
from keras_prune_nas.engine.population import Population

__all__ = [
    "COMPLETED", "FAILED", "FINALISTS", "FINISHED", "SELECTION", "STOP", "STOPPED",
    "WAIT", "CullPolicy", "EpochAnswer", "FailurePolicy", "Population",
    "RoundEngine", "RoundPolicy", "SearchAborted", "SecretaryPolicy", "Stop",
    "TextDisplay", "Wait", "Work", "choose_waiting_candidate", "format_score",
    "metrics_finite",
]
