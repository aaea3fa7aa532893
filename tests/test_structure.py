"""The code's own rules: no module reaches into another's private names.

Checked with `ast` over the package, the tests and the benchmarks. A private
name of ours is one that starts with an underscore and is defined in
`keras_prune_nas` (a module-level name, a method or a class attribute), less
the keras_tuner hooks we override (`_save_trial`, `_build_and_fit_model`,
...), which are keras_tuner's names, not ours.
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


def our_private_names():
    names = set()
    for path in python_files("keras_prune_nas"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and private(target.id):
                        names.add(target.id)
    inherited = {
        name
        for base in (keras_tuner.Oracle, keras_tuner.Tuner)
        for cls in base.__mro__
        for name in vars(cls)
        if private(name)
    }
    return names - inherited


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
        "tuner._retain_checkpoints(answer)\n"
        "self._retain_checkpoints(answer)\n"
    )
    found = violations(sample, our_private_names())
    assert [line.split(":")[0] for line in found] == ["2", "3", "4"]
