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
"""

import json
import os

import numpy as np

from keras_prune_nas import analysis


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


def replayed_test_accuracy(record, **rule):
    """The test accuracy of PruneSearch's rule replayed on a RandomSearch's
    curves, and the row it picked."""
    _, val, test = curves_of(record)
    result = analysis.replay(val, rule="prune", **rule)
    trained = int(result.trained[result.chosen])
    best_epoch = int(np.nanargmax(val[result.chosen, :trained]))
    return float(test[result.chosen, best_epoch]), result


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


def paired(differences):
    """Mean, 95% t-interval and Wilcoxon p-value of paired differences."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, (float("nan"), float("nan")), float("nan")
    if not np.any(d - d[0]):
        # Every seed the same difference (often 0: the same pick): no spread.
        return mean, (mean, mean), 1.0 if not np.any(d) else float("nan")
    low, high = stats.t.interval(0.95, len(d) - 1, loc=mean, scale=stats.sem(d))
    p = float("nan") if not np.any(d) else float(stats.wilcoxon(d).pvalue)
    return mean, (float(low), float(high)), p


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
            mean, (low, high), p = paired(differences)
            print(f"| {label} | {len(differences)} | {100 * mean:+.2f} | "
                  f"[{100 * low:+.2f}, {100 * high:+.2f}] | {p:.3f} |")
