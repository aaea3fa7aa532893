"""Architectures as token sequences, for any keras_tuner search space.

NAO reads and writes architectures as sequences of discrete tokens. Here a
sequence has one position per hyperparameter of the search space, in the
order the hypermodel registered them (a parent before the hyperparameters
its conditions name):

* a `Choice`, `Boolean` or `Fixed` maps to its values;
* an `Int` with at most `bins` values maps to each value, a wider `Int` or a
  `Float` to `bins` bins of keras_tuner's own cumulative scale
  (`value_to_prob`), which is log-spaced where the sampling is log;
* a hyperparameter inactive under the values before it (a conditional
  scope, e.g. the width of a layer beyond the sampled depth) is a padding
  token.

Every position has its own range of ids in one vocabulary, id 0 being the
padding token. `allowed_tokens` says which ids may stand at a position
given the tokens before it, so a decoder masked by it can only produce
valid architectures; `decode` maps tokens back to `HyperParameters` values.
Pure NumPy and keras_tuner: no model.
"""

import numpy as np
from keras_tuner.src.engine.hyperparameters import hp_types

PAD = 0


class SearchSpaceCodec:
    """Encodes a keras_tuner search space's values as token sequences.

    Args:
        hyperparameters: The search space (`oracle.hyperparameters` once the
            hypermodel has registered its hyperparameters).
        bins: How many tokens a wide `Int` or a `Float` gets. Defaults to 8.

    Example:

    ```python
    codec = SearchSpaceCodec(oracle.hyperparameters)
    tokens = codec.encode(trial.hyperparameters.values)
    values = codec.decode(tokens)  # the same architecture, binned
    ```
    """

    def __init__(self, hyperparameters, bins=8):
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(
                f"`bins` must be an integer >= 2 (tokens for a numerical "
                f"hyperparameter). Received: bins={bins!r}."
            )
        self.bins = bins
        self.space = list(hyperparameters.space)
        if not self.space:
            raise ValueError(
                "The search space is empty: build the hypermodel once (e.g. "
                "`hypermodel.build(hp)`) so that it registers its "
                "hyperparameters before making a codec."
            )
        self._choices = [self._position_values(hp) for hp in self.space]
        self.offsets = []
        next_id = 1
        for choices in self._choices:
            self.offsets.append(next_id)
            next_id += len(choices)
        self.vocabulary_size = next_id

    @property
    def length(self):
        """Tokens per architecture: one per hyperparameter."""
        return len(self.space)

    def _position_values(self, hp):
        if isinstance(hp, (hp_types.Choice, hp_types.Boolean, hp_types.Fixed)):
            return list(hp.values)
        if isinstance(hp, hp_types.Int):
            step = hp.step or 1
            count = (hp.max_value - hp.min_value) // step + 1
            if hp.sampling == "linear" and count <= self.bins:
                return [hp.min_value + i * step for i in range(count)]
        if isinstance(hp, (hp_types.Int, hp_types.Float)):
            values = []
            for index in range(self.bins):
                value = hp.prob_to_value((index + 0.5) / self.bins)
                if value not in values:
                    values.append(value)
            return values
        raise TypeError(
            f"The codec does not know hyperparameters of type "
            f"{type(hp).__name__} ({hp.name})."
        )

    def _is_active(self, hp, values):
        return all(condition.is_active(values) for condition in hp.conditions)

    def _token_of(self, position, value):
        hp = self.space[position]
        choices = self._choices[position]
        if value in choices:
            return self.offsets[position] + choices.index(value)
        if isinstance(hp, (hp_types.Int, hp_types.Float)):
            # The bin whose value is nearest on keras_tuner's own scale.
            target = hp.value_to_prob(value)
            distances = [abs(hp.value_to_prob(choice) - target) for choice in choices]
            return self.offsets[position] + int(np.argmin(distances))
        raise ValueError(
            f"{value!r} is not a value of hyperparameter {hp.name!r} "
            f"({choices})."
        )

    def encode(self, values):
        """The tokens of one architecture's hyperparameter values.

        Args:
            values: A dict name -> value (`HyperParameters.values`).

        Returns:
            A list of `length` token ids; inactive hyperparameters are PAD,
            active ones missing from `values` their default's token.
        """
        tokens = []
        for position, hp in enumerate(self.space):
            if not self._is_active(hp, values):
                tokens.append(PAD)
            else:
                # An active hyperparameter missing from the values (one a
                # hypermodel registers only when its depth reaches it,
                # outside a conditional scope, or one registered after the
                # trial was made) builds with its default: so it encodes.
                value = values[hp.name] if hp.name in values else hp.default
                tokens.append(self._token_of(position, value))
        return tokens

    def allowed_tokens(self, position, values):
        """The token ids that may stand at `position` after `values`.

        Args:
            position: The position in the sequence.
            values: The values decoded for the positions before it.

        Returns:
            A list of ids: the position's own values if the hyperparameter is
            active, else only PAD.
        """
        hp = self.space[position]
        if not self._is_active(hp, values):
            return [PAD]
        start = self.offsets[position]
        return list(range(start, start + len(self._choices[position])))

    def mask(self, position, values):
        """`allowed_tokens` as a boolean vector over the vocabulary."""
        mask = np.zeros(self.vocabulary_size, dtype=bool)
        mask[self.allowed_tokens(position, values)] = True
        return mask

    def choices(self, position):
        """The values the tokens of `position` stand for, in token order."""
        return list(self._choices[position])

    def value_of(self, position, token):
        """The hyperparameter value a (non-PAD) token stands for."""
        return self._choices[position][token - self.offsets[position]]

    def decode(self, tokens):
        """Hyperparameter values from tokens; inactive positions are skipped.

        Raises:
            ValueError: if a token is not allowed where it stands (decode a
                model's output with `allowed_tokens` as a mask to avoid it).
        """
        if len(tokens) != self.length:
            raise ValueError(
                f"Expected {self.length} tokens (one per hyperparameter), got "
                f"{len(tokens)}."
            )
        values = {}
        for position, token in enumerate(tokens):
            token = int(token)
            allowed = self.allowed_tokens(position, values)
            if token not in allowed:
                raise ValueError(
                    f"Token {token} is not allowed at position {position} "
                    f"({self.space[position].name}); allowed: {allowed}."
                )
            if token != PAD:
                values[self.space[position].name] = self.value_of(position, token)
        return values

    def neighbours(self, tokens):
        """Every valid architecture one token away from `tokens`.

        Changing a parent may switch its children on or off: a child switched
        on takes its first value, one switched off becomes PAD.

        Returns:
            A list of token lists, without duplicates, `tokens` excluded.
        """
        found = []
        seen = {tuple(tokens)}
        values = self.decode(tokens)
        for position, hp in enumerate(self.space):
            if tokens[position] == PAD:
                continue
            for token in self.allowed_tokens(position, self._prefix(values, position)):
                if token == tokens[position]:
                    continue
                changed = dict(values)
                changed[hp.name] = self.value_of(position, token)
                candidate = self.encode(self._completed(changed))
                if tuple(candidate) not in seen:
                    seen.add(tuple(candidate))
                    found.append(candidate)
        return found

    def _prefix(self, values, position):
        names = {hp.name for hp in self.space[:position]}
        return {name: value for name, value in values.items() if name in names}

    def _completed(self, values):
        """`values` with newly active hyperparameters set, inactive ones dropped."""
        completed = {}
        for position, hp in enumerate(self.space):
            if not self._is_active(hp, completed):
                continue
            value = values.get(hp.name)
            if value is None or (
                self._choices[position] and value not in self._choices[position]
                and not isinstance(hp, (hp_types.Int, hp_types.Float))
            ):
                value = self._choices[position][0]
            completed[hp.name] = value
        return completed

