"""Following a batch-size schedule: round r trains with its batch size.

Each candidate's learning rate follows the batch size (`schedules`), and the
inputs of each batch size are built once per search, not once per unit.
"""

from keras_tuner import errors
from keras_tuner.src.backend import keras

from keras_prune_nas import pipeline
from keras_prune_nas import schedules


class ScheduledBatches:
    """The fit arguments of a unit under a batch-size schedule.

    Args:
        schedule: A list of batch sizes, one per round (the last one for
            later rounds and the finalists).
        learning_rate_scaling: "linear", "sqrt" or None.
        plan: The search's `RoundPlan`.
        prepare_inputs: `prepare_inputs(args, kwargs) -> (args, kwargs)`:
            the search's input pipeline for one batch size.
    """

    def __init__(self, schedule, learning_rate_scaling, plan, prepare_inputs):
        self.schedule = list(schedule)
        self.learning_rate_scaling = learning_rate_scaling
        self.plan = plan
        self.prepare_inputs = prepare_inputs
        self.base_batch_size = None
        # batch size -> (fit args, fit kwargs) with that batch size
        self.inputs_by_batch_size = {}

    def start(self, fit_args, fit_kwargs):
        """A search begins: returns its fit arguments, keyword arguments only."""
        fit_args, fit_kwargs = pipeline.fit_keywords(fit_args, fit_kwargs)
        self.base_batch_size = fit_kwargs.get("batch_size") or 32
        self.inputs_by_batch_size = {}
        return fit_args, fit_kwargs

    def follow(self, unit, live, kwargs):
        """Sets the round's batch size and scales the learning rate with it.

        Returns the unit's `(args, kwargs)` for `fit`; `unit.schedule` says
        what was set (reported with every epoch).
        """
        round_index = self.plan.round_of_epoch(live.epoch)
        batch_size = schedules.batch_size_for_round(
            self.schedule, round_index, self.plan.rounds
        )
        optimizer = live.model.optimizer
        if self.learning_rate_scaling is not None:
            if live.base_learning_rate is None:
                raise errors.FatalValueError(
                    "batch_size_schedule scales the learning rate, which "
                    "needs a constant learning rate, but the model's "
                    "optimizer has "
                    f"{optimizer.get_config().get('learning_rate')!r}. Compile "
                    "with a number as learning rate, or pass "
                    "learning_rate_scaling=None."
                )
            optimizer.learning_rate = schedules.scaled_learning_rate(
                live.base_learning_rate, batch_size, self.base_batch_size,
                self.learning_rate_scaling,
            )
        unit.schedule = (
            float(batch_size), float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        )
        if batch_size not in self.inputs_by_batch_size:
            data = {
                name: value for name, value in kwargs.items()
                if name in pipeline.DATA_ARGUMENTS
            }
            data["batch_size"] = batch_size
            self.inputs_by_batch_size[batch_size] = self.prepare_inputs((), data)
        args, data = self.inputs_by_batch_size[batch_size]
        rest = {
            name: value for name, value in kwargs.items()
            if name not in pipeline.DATA_ARGUMENTS
        }
        return args, {**rest, **data}
