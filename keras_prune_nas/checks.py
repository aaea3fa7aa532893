"""Argument checks shared by every module, each raising one `ValueError`.

Every message names the argument, what was expected (with its meaning, so
the user knows what the number is for) and what was received, in the style
of scikit-learn's parameter validation. Pure Python: no Keras.
"""

import math


def is_integer(value):
    """True for an `int` that is not a `bool`."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """True for an `int` or `float` that is not a `bool`."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require_int(name, value, minimum, meaning, allow_none=False, none_means=None):
    """Checks that `value` is an integer >= `minimum` (or None if allowed).

    Args:
        name: The argument's name, as the user spells it.
        value: What the user passed.
        minimum: The smallest value accepted.
        meaning: What the number stands for, e.g. "the number of finalists".
        allow_none: Whether None is accepted.
        none_means: What None stands for, said in the message.
    """
    if value is None and allow_none:
        return
    if not is_integer(value) or value < minimum:
        alternative = f" or None ({none_means})" if allow_none else ""
        raise ValueError(
            f"`{name}` must be an integer >= {minimum} ({meaning}){alternative}. "
            f"Received: {name}={value!r}."
        )


def require_number(
    name, value, meaning, minimum=None, maximum=None, exclusive=False,
    allow_none=False, none_means=None,
):
    """Checks that `value` is a finite number within the given bounds.

    Args:
        name: The argument's name.
        value: What the user passed.
        meaning: What the number stands for.
        minimum, maximum: Optional bounds.
        exclusive: Whether the bounds themselves are excluded.
        allow_none: Whether None is accepted.
        none_means: What None stands for, said in the message.
    """
    if value is None and allow_none:
        return
    valid = is_number(value) and math.isfinite(value)
    if valid and minimum is not None:
        valid = value > minimum if exclusive else value >= minimum
    if valid and maximum is not None:
        valid = value < maximum if exclusive else value <= maximum
    if valid:
        return
    if minimum is not None and maximum is not None:
        expected = (
            f"a number strictly between {minimum} and {maximum}" if exclusive
            else f"a number from {minimum} to {maximum}"
        )
    elif minimum is not None:
        expected = f"a finite number {'>' if exclusive else '>='} {minimum}"
    elif maximum is not None:
        expected = f"a finite number {'<' if exclusive else '<='} {maximum}"
    else:
        expected = "a finite number"
    alternative = f" or None ({none_means})" if allow_none else ""
    raise ValueError(
        f"`{name}` must be {expected} ({meaning}){alternative}. "
        f"Received: {name}={value!r}."
    )


def require_choice(name, value, choices, meaning):
    """Checks that `value` is one of `choices`."""
    if value not in choices:
        spelled = [repr(choice) for choice in choices]
        listed = (
            spelled[0] if len(spelled) == 1
            else f"{', '.join(spelled[:-1])} or {spelled[-1]}"
        )
        raise ValueError(
            f"`{name}` must be {listed} ({meaning}). "
            f"Received: {name}={value!r}."
        )


def require_int_list(name, value, minimum, meaning):
    """Checks a non-empty list (or tuple) of integers >= `minimum`."""
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, (list, tuple))
        or not value
        or not all(is_integer(item) and item >= minimum for item in value)
    ):
        raise ValueError(
            f"`{name}` must be a non-empty list of integers >= {minimum} "
            f"({meaning}). Received: {name}={value!r}."
        )


def validate_epochs(epochs):
    """`search(epochs=...)`: the most epochs any candidate trains."""
    require_int(
        "epochs", epochs, 1, "the most epochs any candidate trains, as in fit()"
    )
