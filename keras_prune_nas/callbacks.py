"""Callbacks that see a candidate's many `fit` calls as one run."""

from keras_tuner.src.backend import keras

BATCH_HOOKS = (
    "on_batch_begin", "on_batch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


def _is_default(method):
    return getattr(method, "_is_default", False)


class ContinuingCallbacks(keras.callbacks.Callback):
    """Makes a candidate's many `fit` calls look like one run to callbacks.

    A candidate is trained by one `fit` call per round. Passed to each call
    as they are, a `CSVLogger` would truncate its file every round and an
    `EarlyStopping` would forget its patience. Wrapped in this, the user's
    callbacks get `on_train_begin` once, every epoch with its true number,
    and `on_train_end` once, when the candidate is culled or finished.

    Args:
        callbacks: The `keras.callbacks.Callback`s of one candidate.

    Example:

    ```python
    continuing = ContinuingCallbacks([keras.callbacks.CSVLogger("log.csv")])
    model.fit(x, y, epochs=1, callbacks=[continuing])
    model.fit(x, y, initial_epoch=1, epochs=2, callbacks=[continuing])
    continuing.finish()  # the CSV holds epochs 0 and 1
    ```
    """

    def __init__(self, callbacks):
        super().__init__()
        self.callbacks = list(callbacks)
        self.started = False
        self.last_logs = None
        self._model_set = None
        for name in BATCH_HOOKS:
            if all(_is_default(getattr(cb, name)) for cb in self.callbacks):
                # Keep Keras' fast path (async dispatch, no per-batch sync)
                # unless a wrapped callback really wants batch events.
                setattr(self, name, getattr(keras.callbacks.Callback(), name))

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        if model is not self._model_set:
            self._model_set = model
            for callback in self.callbacks:
                callback.set_model(model)

    def on_train_begin(self, logs=None):
        if not self.started:
            self.started = True
            for callback in self.callbacks:
                callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        # Deferred to `finish`: the candidate may train again next round.
        pass

    def finish(self):
        """Ends the run for the callbacks (the candidate trains no more)."""
        if self.started:
            self.started = False
            for callback in self.callbacks:
                callback.on_train_end(self.last_logs)

    def detach(self):
        """Drops the references to the model, which is being freed.

        Not through `set_model(None)`: some callbacks (TensorBoard) read the
        model there. Keras has no public way to unset a callback's model.
        """
        self._model = None
        self._model_set = None
        for callback in self.callbacks:
            if hasattr(callback, "_model"):
                callback._model = None

    def on_epoch_end(self, epoch, logs=None):
        self.last_logs = logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)


def _forwarding(hook):
    def forward(self, *args, **kwargs):
        for callback in self.callbacks:
            getattr(callback, hook)(*args, **kwargs)

    forward.__name__ = hook
    return forward


for _hook in BATCH_HOOKS + (
    "on_epoch_begin", "on_test_begin", "on_test_end",
    "on_predict_begin", "on_predict_end",
):
    setattr(ContinuingCallbacks, _hook, _forwarding(_hook))
