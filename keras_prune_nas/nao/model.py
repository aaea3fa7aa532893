"""The NAO model: encoder, performance predictor and decoder, in Keras 3.

As in the reference code (renqianluo/NAO_pytorch, NAO_V1):

* the encoder embeds the tokens, runs one LSTM layer, L2-normalises every
  step's output; their mean, L2-normalised again, is the architecture's
  embedding;
* the predictor is an MLP on the embedding with a sigmoid output;
* the decoder is an LSTM whose initial state is the embedding, with dot
  attention over the encoder's per-token outputs, trained with teacher
  forcing and decoded greedily under a per-position mask (the codec's), so
  every output is a valid architecture;
* the loss is trade_off * MSE(predictor) + (1 - trade_off) * NLL(decoder),
  minimised with Adam (gradient-norm clip, weight decay);
* proposing moves every per-token encoder output along the gradient of the
  predicted performance by a step size, re-normalises, pools and decodes.

Everything is `keras.ops`; the two gradients (of the loss, to train; of
the prediction with respect to the encoder's outputs, to propose) come from
the backend Keras runs on, through `nao.gradients`: TensorFlow, JAX or
PyTorch.
"""

import numpy as np

from keras_tuner.src.backend import keras

from keras_prune_nas import checks
from keras_prune_nas.nao import gradients


def validate_model_parameters(
    embedding_size, hidden_size, predictor_hidden, predictor_layers, trade_off,
    learning_rate, weight_decay, clip_norm,
):
    """Checks the NAO model's sizes and training settings."""
    checks.require_int("embedding_size", embedding_size, 1, "the token embedding size")
    checks.require_int("hidden_size", hidden_size, 1, "the LSTMs' size")
    checks.require_int("predictor_hidden", predictor_hidden, 1, "units per predictor layer")
    checks.require_int("predictor_layers", predictor_layers, 0, "hidden layers of the predictor")
    checks.require_number(
        "trade_off", trade_off, "the predictor's share of the loss (λ), e.g. 0.8",
        minimum=0, maximum=1,
    )
    checks.require_number("learning_rate", learning_rate, "Adam's step", minimum=0, exclusive=True)
    checks.require_number("weight_decay", weight_decay, "decoupled weight decay", minimum=0)
    checks.require_number("clip_norm", clip_norm, "the gradient-norm clip", minimum=0, exclusive=True)


def model_option_defaults():
    """NAOModel's sizes and training settings with their defaults (the
    arguments `NAOOracle(model_options=...)` may set)."""
    import inspect

    return {
        name: parameter.default
        for name, parameter in inspect.signature(NAOModel.__init__).parameters.items()
        if name not in ("self", "codec", "seed")
    }


class NAOModel:
    """Encoder, predictor and decoder over one codec's token sequences.

    Args:
        codec: A `SearchSpaceCodec`.
        embedding_size: Size of the token embedding. Defaults to 32.
        hidden_size: Size of the encoder's and decoder's LSTM (and of the
            architecture embedding). Defaults to 64.
        predictor_hidden: Units of each predictor layer. Defaults to 64.
        predictor_layers: Hidden layers of the predictor. Defaults to 2.
        trade_off: λ, the predictor's share of the loss. Defaults to 0.8.
        learning_rate: Adam's learning rate. Defaults to 1e-3.
        weight_decay: Adam's (decoupled) weight decay. Defaults to 1e-4.
        clip_norm: Global gradient-norm clip. Defaults to 5.
        seed: Integer seed of the initial weights.
    """

    def __init__(
        self,
        codec,
        embedding_size=32,
        hidden_size=64,
        predictor_hidden=64,
        predictor_layers=2,
        trade_off=0.8,
        learning_rate=1e-3,
        weight_decay=1e-4,
        clip_norm=5.0,
        seed=0,
    ):
        validate_model_parameters(
            embedding_size, hidden_size, predictor_hidden, predictor_layers,
            trade_off, learning_rate, weight_decay, clip_norm,
        )
        gradients.require_supported_backend()
        self.codec = codec
        self.trade_off = float(trade_off)
        self.start_token = codec.vocabulary_size  # the decoder's first input
        initializer = keras.initializers.GlorotUniform(seed=seed)
        self.embedding = keras.layers.Embedding(
            codec.vocabulary_size + 1, embedding_size,
            embeddings_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=seed),
        )
        recurrent = keras.initializers.Orthogonal(seed=seed)
        self.encoder = keras.layers.LSTM(
            hidden_size, return_sequences=True, unroll=True, kernel_initializer=initializer,
            recurrent_initializer=recurrent,
        )
        self.predictor = keras.Sequential(
            [
                keras.layers.Dense(predictor_hidden, activation="relu",
                                   kernel_initializer=initializer)
                for _ in range(predictor_layers)
            ]
            + [keras.layers.Dense(1, activation="sigmoid", kernel_initializer=initializer)]
        )
        self.decoder_cell = keras.layers.LSTMCell(
            hidden_size, kernel_initializer=initializer, recurrent_initializer=recurrent,
        )
        self.attention_combine = keras.layers.Dense(
            hidden_size, activation="tanh", kernel_initializer=initializer
        )
        self.output_layer = keras.layers.Dense(
            codec.vocabulary_size, kernel_initializer=initializer
        )
        self.optimizer = keras.optimizers.Adam(
            learning_rate=learning_rate, weight_decay=weight_decay or None,
            global_clipnorm=clip_norm,
        )
        self._build()
        self._train_step = gradients.make_train_step(self.loss, self.variables, self.optimizer)

    def _build(self):
        embedding_size = self.embedding.output_dim
        hidden_size = self.encoder.units
        self.embedding.build((None, self.codec.length))
        self.encoder.build((None, self.codec.length, embedding_size))
        self.predictor.build((None, hidden_size))
        self.decoder_cell.build((None, embedding_size))
        self.attention_combine.build((None, 2 * hidden_size))
        self.output_layer.build((None, hidden_size))
        self.variables = (
            self.embedding.trainable_variables
            + self.encoder.trainable_variables
            + self.predictor.trainable_variables
            + self.decoder_cell.trainable_variables
            + self.attention_combine.trainable_variables
            + self.output_layer.trainable_variables
        )
        self.optimizer.build(self.variables)
        self._predict = gradients.compile_function(
            lambda tokens: self.predict_from_outputs(self.encode_outputs(tokens)[0]),
            self.variables,
        )
        self._moved_outputs = gradients.compile_function(self._moved_outputs_of, self.variables)
        self._decoder_step = gradients.compile_function(self._decoder_step_of, self.variables)

    # ------------------------------------------------------------------
    # Forward passes
    # ------------------------------------------------------------------
    def encode_outputs(self, tokens):
        """Per-token encoder outputs (L2-normalised) and the pooled embedding."""
        ops = keras.ops
        outputs = self.encoder(self.embedding(ops.convert_to_tensor(tokens, "int32")))
        outputs = _l2_normalize(outputs)
        return outputs, _l2_normalize(ops.mean(outputs, axis=1))

    def predict_from_outputs(self, outputs):
        """The predicted performance (in [0, 1]) of per-token outputs."""
        embedding = _l2_normalize(keras.ops.mean(outputs, axis=1))
        return keras.ops.squeeze(self.predictor(embedding), axis=-1)

    def predict(self, tokens):
        """Predicted performance of architectures (a NumPy vector)."""
        return keras.ops.convert_to_numpy(self._predict(np.asarray(tokens, dtype="int32")))

    def _attend(self, hidden, outputs):
        ops = keras.ops
        scores = ops.einsum("bh,blh->bl", hidden, outputs)
        weights = ops.softmax(scores, axis=-1)
        context = ops.einsum("bl,blh->bh", weights, outputs)
        return self.attention_combine(ops.concatenate([context, hidden], axis=-1))

    def _decoder_logits(self, outputs, embedding, targets):
        """Teacher-forced logits: step t sees the true token t - 1."""
        ops = keras.ops
        batch = ops.shape(targets)[0]
        previous = ops.concatenate(
            [ops.full((batch, 1), self.start_token, dtype="int32"),
             ops.convert_to_tensor(targets, "int32")[:, :-1]],
            axis=1,
        )
        inputs = self.embedding(previous)
        state = [embedding, embedding]
        logits = []
        for step in range(self.codec.length):
            hidden, state = self.decoder_cell(inputs[:, step], state)
            logits.append(self.output_layer(self._attend(hidden, outputs)))
        return ops.stack(logits, axis=1)

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def loss(self, tokens, targets, masks, weights):
        """trade_off * predictor MSE + (1 - trade_off) * decoder NLL, and the
        two parts; rows of weight 0 (a batch's padding) count for nothing."""
        ops = keras.ops
        targets = ops.convert_to_tensor(targets, "float32")
        weights = ops.convert_to_tensor(weights, "float32")
        outputs, embedding = self.encode_outputs(tokens)
        predicted = self.predict_from_outputs(outputs)
        total = ops.sum(weights)
        prediction_loss = ops.sum(weights * ops.square(predicted - targets)) / total
        logits = self._decoder_logits(outputs, embedding, tokens)
        # The decoder learns only among the tokens allowed where it stands.
        logits = ops.where(masks, logits, ops.full_like(logits, -1e9))
        token_losses = ops.sparse_categorical_crossentropy(tokens, logits, from_logits=True)
        decoder_loss = ops.sum(weights[:, None] * token_losses) / (total * self.codec.length)
        loss = self.trade_off * prediction_loss + (1 - self.trade_off) * decoder_loss
        return loss, (prediction_loss, decoder_loss)

    def token_masks(self, tokens):
        """For each sequence and position, the tokens allowed there (bool)."""
        masks = np.zeros((len(tokens), self.codec.length, self.codec.vocabulary_size), bool)
        for row, sequence in enumerate(tokens):
            values = {}
            for position, token in enumerate(sequence):
                masks[row, position] = self.codec.mask(position, values)
                if token:
                    values[self.codec.space[position].name] = self.codec.value_of(
                        position, int(token)
                    )
        return masks

    def fit(self, tokens, targets, epochs=200, batch_size=None, seed=0):
        """Trains on architectures and their targets (in [0, 1]).

        Args:
            tokens: Token sequences, one row per architecture.
            targets: Their targets in [0, 1].
            epochs: Passes over the data.
            batch_size: Architectures per step. Defaults to 64, or a quarter
                of the pool for pools over 256, so that an epoch is at most
                four steps and the cost grows slowly with the pool.
            seed: Seed of the training order.

        Returns:
            (predictor MSE, decoder NLL) of the last epoch.
        """
        tokens = np.asarray(tokens, dtype="int32")
        targets = np.asarray(targets, dtype="float32")
        masks = self.token_masks(tokens)
        if batch_size is None:
            batch_size = max(64, -(-len(tokens) // 4))
        batch_size = min(batch_size, len(tokens))
        rng = np.random.default_rng(seed)
        losses = (float("nan"), float("nan"))
        for _ in range(epochs):
            order = rng.permutation(len(tokens))
            for start in range(0, len(tokens), batch_size):
                batch = order[start:start + batch_size]
                # Every step the same shape, so a compiled step is compiled
                # once: a short last batch is padded with rows of weight 0.
                weights = np.ones(batch_size, dtype="float32")
                if len(batch) < batch_size:
                    weights[len(batch):] = 0.0
                    batch = np.concatenate([batch, order[:batch_size - len(batch)]])
                losses = self._train_step(tokens[batch], targets[batch], masks[batch], weights)
        return tuple(float(value) for value in losses)

    # ------------------------------------------------------------------
    # Proposing
    # ------------------------------------------------------------------
    def moved_outputs(self, tokens, step_size):
        """Encoder outputs moved `step_size` along the predictor's gradient."""
        return self._moved_outputs(np.asarray(tokens, dtype="int32"),
                                   np.asarray(step_size, dtype="float32"))

    def _moved_outputs_of(self, tokens, step_size):
        step_size = keras.ops.convert_to_tensor(step_size, "float32")
        outputs, _ = self.encode_outputs(tokens)
        gradient = gradients.input_gradient(self.predict_from_outputs, outputs)
        return _l2_normalize(outputs + step_size * gradient)

    def _decoder_step_of(self, previous, state, outputs):
        """One greedy decoding step: the logits of the next token, and the
        decoder's state after it."""
        hidden, state = self.decoder_cell(self.embedding(previous), state)
        return self.output_layer(self._attend(hidden, outputs)), state

    def decode(self, outputs):
        """Greedy, masked decoding of per-token outputs into token lists."""
        ops = keras.ops
        outputs = ops.convert_to_tensor(outputs)
        embedding = _l2_normalize(ops.mean(outputs, axis=1))
        count = int(ops.shape(outputs)[0])
        state = [embedding, embedding]
        previous = np.full((count,), self.start_token, dtype="int32")
        decoded = [[] for _ in range(count)]
        values = [{} for _ in range(count)]
        for position in range(self.codec.length):
            logits, state = self._decoder_step(previous, state, outputs)
            logits = ops.convert_to_numpy(logits)
            for row in range(count):
                allowed = self.codec.allowed_tokens(position, values[row])
                token = allowed[int(np.argmax(logits[row, allowed]))]
                decoded[row].append(token)
                previous[row] = token
                if token:
                    values[row][self.codec.space[position].name] = self.codec.value_of(
                        position, token
                    )
        return decoded

    def propose(self, tokens, step_size):
        """Architectures decoded after one gradient step from each of `tokens`."""
        return self.decode(self.moved_outputs(tokens, step_size))


def _l2_normalize(x):
    ops = keras.ops
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)
