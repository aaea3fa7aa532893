"""Policies written for the tests, as a user would write one (pure Python)."""

from keras_prune_nas.engine import RoundPolicy


class KeepTheBestHalf(RoundPolicy):
    """A strategy of a few lines: one round, then the better half trains on."""

    key = "keep_the_best_half"

    def selection_rounds(self, max_candidates):
        return 1

    def round_finished(self, engine, population):
        if engine.end_if_nothing_to_train(population):
            return True
        ranking = engine.population.ranking(population)
        for candidate_id in ranking[len(ranking) // 2:]:
            engine.end_candidate(candidate_id, "STOPPED", "In the worse half.")
        return engine.start_finalists("the better half trains on.")
