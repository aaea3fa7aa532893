"""Gradients on whichever backend Keras runs.

The NAO model needs two gradients: of its loss with respect to its weights
(to train) and of the predicted performance with respect to the encoder's
outputs (to propose). Keras 3 has no backend-neutral gradient, so each
backend's own is used: TensorFlow's `GradientTape` (the step compiled with
`tf.function`), `jax.value_and_grad` over the variables' values swapped in
through a `keras.StatelessScope` (the step compiled with `jax.jit`, the
optimizer applied with `stateless_apply`, as Keras' own JAX trainer does),
and `torch.autograd` (eager, as Keras' own torch trainer runs by default).
Everything else in the model is `keras.ops`.
"""

from keras_tuner.src.backend import keras

BACKENDS = ("tensorflow", "jax", "torch")


def require_supported_backend():
    """Returns Keras' backend name, or raises a ValueError naming the ones
    NAO's model can take gradients on."""
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(
            f"NAO's model takes gradients on the {', '.join(BACKENDS)} backends; "
            f"Keras runs on {backend!r}. Set KERAS_BACKEND to one of them "
            "before Keras is imported."
        )
    return backend


def make_train_step(loss_fn, variables, optimizer):
    """`step(*inputs) -> aux`: one optimizer step on `loss_fn`'s gradient.

    Args:
        loss_fn: `loss_fn(*inputs) -> (loss, aux)`, written in `keras.ops`
            and reading `variables` (a scalar loss; `aux` any tensors).
        variables: The trainable Keras variables.
        optimizer: A built Keras optimizer over `variables`.

    Returns:
        A function that updates `variables` (and the optimizer's state) in
        place and returns `aux` as NumPy values.
    """
    backend = require_supported_backend()
    variables = list(variables)
    if backend == "tensorflow":
        return _tensorflow_train_step(loss_fn, variables, optimizer)
    if backend == "jax":
        return _jax_train_step(loss_fn, variables, optimizer)
    return _torch_train_step(loss_fn, variables, optimizer)


def input_gradient(fn, inputs):
    """The gradient of `sum(fn(inputs))` with respect to `inputs` (a tensor
    of the backend); the variables `fn` reads are held fixed."""
    backend = require_supported_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(fn(inputs))
        return tape.gradient(total, inputs)
    if backend == "jax":
        import jax

        return jax.grad(lambda x: keras.ops.sum(fn(x)))(keras.ops.convert_to_tensor(inputs))
    import torch

    inputs = keras.ops.convert_to_tensor(inputs).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(keras.ops.sum(fn(inputs)), [inputs])
    return gradient


def compile_function(fn, variables):
    """`fn(*inputs)`, which reads `variables` and may take `input_gradient`,
    compiled where compiling pays: under `jax.jit` on JAX (the variables'
    current values passed in through a `keras.StatelessScope`, so a later
    training step is seen), as it is elsewhere (TensorFlow and PyTorch run
    these small functions eagerly about as fast as compiled)."""
    if require_supported_backend() != "jax":
        return fn
    import jax

    variables = list(variables)

    def pure(values, *inputs):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*inputs)

    jitted = jax.jit(pure)
    return lambda *inputs: jitted([variable.value for variable in variables], *inputs)


def _to_numpy(aux):
    return tuple(keras.ops.convert_to_numpy(value) for value in aux)


def _tensorflow_train_step(loss_fn, variables, optimizer):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(*inputs):
        with tf.GradientTape() as tape:
            loss, aux = loss_fn(*inputs)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return aux

    return lambda *inputs: _to_numpy(step(*inputs))


def _jax_train_step(loss_fn, variables, optimizer):
    import jax

    def loss_of(values, inputs):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return loss_fn(*inputs)

    @jax.jit
    def pure_step(values, optimizer_values, inputs):
        (_, aux), gradients = jax.value_and_grad(loss_of, has_aux=True)(values, inputs)
        values, optimizer_values = optimizer.stateless_apply(
            optimizer_values, gradients, values
        )
        return values, optimizer_values, aux

    def step(*inputs):
        values, optimizer_values, aux = pure_step(
            [variable.value for variable in variables],
            [variable.value for variable in optimizer.variables],
            tuple(keras.ops.convert_to_tensor(value) for value in inputs),
        )
        for variable, value in zip(variables, values):
            variable.assign(value)
        for variable, value in zip(optimizer.variables, optimizer_values):
            variable.assign(value)
        return _to_numpy(aux)

    return step


def _torch_train_step(loss_fn, variables, optimizer):
    import torch

    def step(*inputs):
        loss, aux = loss_fn(*(keras.ops.convert_to_tensor(value) for value in inputs))
        gradients = torch.autograd.grad(loss, [variable.value for variable in variables])
        with torch.no_grad():
            optimizer.apply(gradients, variables)
        return _to_numpy(aux)

    return step
