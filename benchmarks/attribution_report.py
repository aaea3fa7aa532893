"""The attribution study's tables, from the records `attribution.py` wrote.

Per dataset and seed, the test accuracy of:

* `random`: RandomSearch (its pick: the best validation epoch of all);
* `no_cull`: PruneSearch's rule without the cull, replayed on RandomSearch's
  curves (every candidate a finalist, early stopping with patience 5): what
  early stopping alone changes;
* `replay`: PruneSearch's whole rule replayed on RandomSearch's curves
  through the search's own engine (cull, early stopping, pick on
  validation): what the rule's decisions change;
* `prune`: the real PruneSearch with the same seed and candidates: what
  training the candidates round by round changes on top.

A replayed pick is scored as the search would load it: the chosen
candidate's test accuracy at its best validation epoch among those it
trained. The gap prune - random splits exactly into early stopping
(no_cull - random), the cull (replay - no_cull) and training (prune -
replay). The pick itself is the same rule in both searches (best validation
score among the finalists); it only differs through who the finalists are.

Each difference is paired by seed, with a 95% t-interval and a Wilcoxon
signed-rank p-value (scipy).

`remedies` replays variants of the rule on the same RandomSearch curves (test
accuracy minus RandomSearch's, paired by seed, and the epochs trained
against RandomSearch's) and on the shared LCBench tables (found the best of
500, worst regret, median share of full training), so a default changes only
where both agree.
"""

import glob
import json
import os
import statistics

import numpy as np

from keras_prune_nas import analysis
from keras_prune_nas import culling
from keras_prune_nas.engine import CullPolicy

LCBENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                       "data", "lcbench")


def load_record(results, dataset, method, seed):
    path = os.path.join(results, dataset, f"{method}_{seed}.json")
    if not os.path.exists(path):
        return None
    with open(path) as stream:
        return json.load(stream)


def curves_of(record):
    """(ids, validation curves, test curves), candidates in sampling order."""
    ids = sorted(record["candidates"], key=int)
    val = np.array([record["candidates"][i]["val"] for i in ids], dtype=float)
    test = np.array([record["candidates"][i]["test"] for i in ids], dtype=float)
    return ids, val, test


class SmoothedCull(CullPolicy):
    """Ranks the survivors by an exponential moving average of their curve."""

    key = "smoothed_cull"

    def select_culled(self, engine, population, count):
        scores = {}
        for cid in population:
            smoothed = None
            for value in engine.curve(cid):
                smoothed = value if smoothed is None else 0.5 * value + 0.5 * smoothed
            scores[cid] = smoothed
        return scores, culling.select_culled(
            scores, self.cull_fraction, self.min_survivors, engine.direction, count)


class SparingCull(CullPolicy):
    """Spares the would-be culled within `margin` of the last survivor's score."""

    key = "sparing_cull"

    def __init__(self, margin, **options):
        super().__init__(**options)
        self.margin = margin

    def select_culled(self, engine, population, count):
        scores, culled = super().select_culled(engine, population, count)
        ranking = culling.rank(scores, engine.direction)
        cut = scores[ranking[len(ranking) - count - 1]]
        sign = 1 if engine.direction == "max" else -1
        return scores, [
            (cid, rank) for cid, rank in culled
            if not culling.is_usable(scores[cid]) or sign * (cut - scores[cid]) > self.margin
        ]


# name -> (a fresh policy, patience, rank_by)
REMEDIES = {
    "default (cull 0.15, patience 5, best so far)": (lambda: CullPolicy(), 5, "best"),
    "patience 10": (lambda: CullPolicy(), 10, "best"),
    "no early stopping": (lambda: CullPolicy(), None, "best"),
    "rank by last epoch": (lambda: CullPolicy(), 5, "last"),
    "rank by smoothed curve": (lambda: SmoothedCull(), 5, "best"),
    "cull 0.10": (lambda: CullPolicy(0.10), 5, "best"),
    "spare within 0.01 of the cut": (lambda: SparingCull(0.01), 5, "best"),
    "spare within 0.02 of the cut": (lambda: SparingCull(0.02), 5, "best"),
    "grace_epochs=2": (lambda: CullPolicy(grace_rounds=2), 5, "best"),
    "grace_epochs=3": (lambda: CullPolicy(grace_rounds=3), 5, "best"),
    "grace_epochs=4": (lambda: CullPolicy(grace_rounds=4), 5, "best"),
    "grace_epochs=5": (lambda: CullPolicy(grace_rounds=5), 5, "best"),
}


def test_accuracy_of_pick(val, test, result):
    """A replayed pick scored as the search loads it: the chosen candidate's
    test accuracy at its best validation epoch among those it trained."""
    trained = int(result.trained[result.chosen])
    best_epoch = int(np.nanargmax(val[result.chosen, :trained]))
    return float(test[result.chosen, best_epoch])


def replayed_test_accuracy(record, **rule):
    """The test accuracy of PruneSearch's rule replayed on a RandomSearch's
    curves, and the row it picked."""
    _, val, test = curves_of(record)
    result = analysis.replay(val, rule="prune", **rule)
    return test_accuracy_of_pick(val, test, result), result


def random_pick_test_accuracy(record):
    """RandomSearch's pick scored from its curves (a check on the record)."""
    _, val, test = curves_of(record)
    row, epoch = np.unravel_index(np.nanargmax(val), val.shape)
    return float(test[row, epoch])


def fate_of_random_winner(random_record, prune_record):
    """Where RandomSearch's winner went in the real PruneSearch."""
    values = random_record["candidates"][random_record["best_trial"]]["values"]
    for trial_id, candidate in prune_record["candidates"].items():
        if candidate["values"] == values:
            if trial_id == prune_record["best_trial"]:
                return "picked"
            if candidate["status"] == "COMPLETED":
                return f"finalist, {len(candidate['val'])} epochs, not picked"
            message = candidate["message"] or candidate["status"]
            return message.split(":")[0] + ("" if ":" not in message else
                                            ": " + message.split(":")[1].split(" with ")[0])
    return "not sampled"


def report(args):
    for dataset in args.datasets:
        rows = []
        for seed in args.seeds:
            random_record = load_record(args.results, dataset, "random", seed)
            if random_record is None:
                continue
            prune_record = load_record(args.results, dataset, "prune", seed)
            no_cull, _ = replayed_test_accuracy(
                random_record, cull_fraction=0.15, min_survivors=10 ** 6, patience=5)
            replay, _ = replayed_test_accuracy(
                random_record, cull_fraction=0.15, min_survivors=10, patience=5)
            rows.append({
                "seed": seed,
                "random": random_record["test_accuracy"],
                "random_check": random_pick_test_accuracy(random_record),
                "no_cull": no_cull,
                "replay": replay,
                "prune": None if prune_record is None else prune_record["test_accuracy"],
                "fate": "" if prune_record is None else
                fate_of_random_winner(random_record, prune_record),
                "wall_ratio": None if prune_record is None else
                prune_record["wall_seconds"] / random_record["wall_seconds"],
            })
        print(f"\n### {dataset}: {len(rows)} seeds with RandomSearch, "
              f"{sum(r['prune'] is not None for r in rows)} with PruneSearch\n")
        if not rows:
            continue
        print("| seed | RandomSearch | rule without cull | rule replayed | PruneSearch "
              "| wall PS / RS | RandomSearch's winner in PruneSearch |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            prune = "" if r["prune"] is None else f"{r['prune']:.3f}"
            ratio = "" if r["wall_ratio"] is None else f"{r['wall_ratio']:.2f}"
            print(f"| {r['seed']} | {r['random']:.3f} | {r['no_cull']:.3f} | "
                  f"{r['replay']:.3f} | {prune} | {ratio} | {r['fate']} |")
        matching = sum(abs(r["random_check"] - r["random"]) < 1e-6 for r in rows)
        print(f"\nRandomSearch's loaded model scores as its curves say in {matching} of "
              f"{len(rows)} seeds (a check on the records and the replay's scoring).")
        complete = [r for r in rows if r["prune"] is not None]
        parts = [
            ("early stopping (no_cull - random)", [r["no_cull"] - r["random"] for r in rows]),
            ("the cull (replay - no_cull)", [r["replay"] - r["no_cull"] for r in rows]),
            ("training (prune - replay)", [r["prune"] - r["replay"] for r in complete]),
            ("total (prune - random)", [r["prune"] - r["random"] for r in complete]),
        ]
        print("\n| part of the gap (points) | seeds | mean | 95% interval | Wilcoxon p |")
        print("| --- | --- | --- | --- | --- |")
        for label, differences in parts:
            if not differences:
                continue
            result = analysis.paired_difference(differences)
            print(f"| {label} | {len(differences)} | {100 * result.mean:+.2f} | "
                  f"[{100 * result.low:+.2f}, {100 * result.high:+.2f}] | "
                  f"{result.wilcoxon_p:.3f} |")
        against_random(args, dataset)


def against_random(args, dataset):
    """Each recorded PruneSearch variant minus RandomSearch, and its wall time."""
    lines = []
    for method, label in (("prune", "PruneSearch (defaults)"),
                          ("prune_grace5", "PruneSearch(grace_epochs=5)")):
        pairs = []
        for seed in args.seeds:
            random_record = load_record(args.results, dataset, "random", seed)
            record = load_record(args.results, dataset, method, seed)
            if random_record is not None and record is not None:
                pairs.append((record, random_record))
        if not pairs:
            continue
        difference = analysis.paired_difference(
            [r["test_accuracy"] - b["test_accuracy"] for r, b in pairs])
        ratios = [r["wall_seconds"] / b["wall_seconds"] for r, b in pairs]
        # CPU time: recorded since 2026-12-02; not moved by other jobs' load.
        cpu_ratios = [r["cpu_seconds"] / b["cpu_seconds"] for r, b in pairs
                      if r.get("cpu_seconds") and b.get("cpu_seconds")]
        cpu = (f"{np.mean(cpu_ratios):.2f} (max {max(cpu_ratios):.2f}; {len(cpu_ratios)} "
               "seeds)" if cpu_ratios else "")
        epochs = [r["epochs_trained"] / b["epochs_trained"] for r, b in pairs]
        lines.append(
            f"| {label} | {len(pairs)} | {difference.format()} | {np.mean(ratios):.2f} "
            f"(max {max(ratios):.2f}) | {cpu} | {np.mean(epochs):.2f} |")
    if lines:
        print("\n| search | seeds | minus RandomSearch (points): mean [95% interval], "
              "Wilcoxon p | wall time / RandomSearch's: mean (max) | CPU time / "
              "RandomSearch's: mean (max) | epochs / RandomSearch's |")
        print("| --- | --- | --- | --- | --- | --- |")
        print("\n".join(lines))


def remedies(args):
    """Variants of the rule, replayed on the records and on LCBench."""
    records = {
        dataset: [r for r in (load_record(args.results, dataset, "random", seed)
                              for seed in args.seeds) if r is not None]
        for dataset in args.datasets
    }
    tables = sorted(glob.glob(os.path.join(LCBENCH, "lcbench_*.npz")))
    curves = [analysis.load_lcbench(path) for path in tables]
    header = "| variant |"
    for dataset, rows in records.items():
        header += f" {dataset}: PS - RS, {len(rows)} seeds (points) | epochs / RS |"
    header += f" LCBench ({len(curves)} tables): found the best, worst regret, median share |"
    print("\n### The rule's variants, replayed\n")
    print(header)
    print("|" + " --- |" * (1 + 2 * len(records) + 1))
    for name, (make_policy, patience, rank_by) in REMEDIES.items():
        line = f"| {name} |"
        for rows in records.values():
            differences, shares = [], []
            for record in rows:
                _, val, test = curves_of(record)
                result = analysis.replay_policy(val, make_policy(), patience=patience,
                                                rank_by=rank_by)
                differences.append(test_accuracy_of_pick(val, test, result)
                                   - record["test_accuracy"])
                shares.append(result.share)
            if not differences:
                line += " | |"
                continue
            line += (f" {analysis.paired_difference(differences).format()} | "
                     f"{np.mean(shares):.3f} |")
        if curves:
            results = [analysis.replay_policy(c, make_policy(), patience=patience,
                                              rank_by=rank_by) for c in curves]
            found = sum(r.regret <= 1e-9 for r in results)
            line += (f" {found} / {len(results)}, {100 * max(r.regret for r in results):.2f},"
                     f" {100 * statistics.median(r.share for r in results):.1f}% |")
        else:
            line += " (no ../shared/data/lcbench) |"
        print(line)
