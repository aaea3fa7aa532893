"""The code's own rules, checked with `ast` over the package, the tests and
the benchmarks.

* No module reaches into another's private names. A private name of ours
  starts with an underscore and is defined in `keras_prune_nas`: a
  module-level name, a method, a class attribute, or an instance attribute
  (`self._name = ...`), less the keras_tuner names we override or set
  (`_save_trial`, `_display`, ...), which are keras_tuner's, not ours.
* keras_tuner's private names appear only in the adapters (`oracle.py`,
  `tuner.py`), and the benchmarks use none.
* No class is longer than 400 lines.
* The engine and the policies import no keras, keras_tuner or backend.
"""

import ast
import pathlib

import keras_tuner

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_prune_nas"


def python_files(*folders):
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def private(name):
    return name.startswith("_") and not name.startswith("__")


ADAPTERS = ("keras_prune_nas/oracle.py", "keras_prune_nas/tuner.py")
MAX_CLASS_LINES = 400


def keras_tuner_private_names():
    """The private names of keras_tuner's Oracle and Tuner: their methods and
    the attributes an instance sets."""
    names = {
        name
        for base in (keras_tuner.Oracle, keras_tuner.Tuner)
        for cls in base.__mro__
        for name in vars(cls)
        if private(name)
    }
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=1)
    return names | {name for name in vars(oracle) if private(name)}


def keras_private_names():
    """Keras' own private names we set on its objects (a Callback's `_model`)."""
    from keras_tuner.src.backend import keras

    return {name for name in vars(keras.callbacks.Callback()) if private(name)}


def our_private_names():
    names = set()
    for path in python_files("keras_prune_nas"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and private(node.name):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and private(target.id):
                        names.add(target.id)
                    elif (
                        isinstance(target, ast.Attribute) and private(target.attr)
                        and isinstance(target.value, ast.Name) and target.value.id == "self"
                    ):
                        names.add(target.attr)
    return names - keras_tuner_private_names() - keras_private_names()


def is_own_object(node):
    """`self`, `cls` or `super()`: a class reaching into itself."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "super"
    )


def violations(path, names):
    found = []
    tree = ast.parse(path.read_text())
    modules = set()  # local names bound to keras_prune_nas modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_prune_nas"):
            if any(private(part) for part in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module} import ...")
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keras_prune_nas") and any(
                    private(part) for part in alias.name.split(".")
                ):
                    found.append(f"{node.lineno}: import {alias.name}")
                if alias.name.startswith("keras_prune_nas"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not private(node.attr):
            continue
        if is_own_object(node.value):
            continue
        if (isinstance(node.value, ast.Name) and node.value.id in modules) or node.attr in names:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_uses_another_modules_private_names():
    names = our_private_names()
    assert "_truncate_metrics" in names  # the check sees our names
    report = {
        str(path.relative_to(ROOT)): found
        for path in python_files("keras_prune_nas", "tests", "benchmarks")
        if (found := violations(path, names))
    }
    assert report == {}


def test_the_check_catches_what_it_should(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from keras_prune_nas import culling\n"
        "from keras_prune_nas.oracle import _truncate_metrics\n"
        "culling._hidden(1)\n"
        "tuner._check_out(trial, 0, 0, [])\n"
        "self._check_out(trial, 0, 0, [])\n"
    )
    found = violations(sample, our_private_names())
    assert [line.split(":")[0] for line in found] == ["2", "3", "4"]


def keras_tuner_privates_used(path, kt_names):
    return [
        f"{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in kt_names
    ]


def test_keras_tuners_private_names_appear_only_in_the_adapters():
    kt_names = keras_tuner_private_names()
    assert "_random_values" in kt_names and "_display" in kt_names
    report = {
        str(path.relative_to(ROOT)): found
        for path in python_files("keras_prune_nas", "benchmarks")
        if str(path.relative_to(ROOT)) not in ADAPTERS
        if (found := keras_tuner_privates_used(path, kt_names))
    }
    assert report == {}


def test_instance_attributes_are_private_to_their_module(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("tuner._unit.trial\nself._unit = None\n")
    names = our_private_names()
    assert "_unit" in names  # set in RoundSearch.__init__ as self._unit
    assert [line.split(":")[0] for line in violations(sample, names)] == ["1"]


def test_no_class_is_longer_than_400_lines():
    long = {
        f"{path.relative_to(ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in python_files("keras_prune_nas")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    }
    assert long == {}
