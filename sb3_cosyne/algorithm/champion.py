"""The champion: the best network found so far, which ``predict`` and ``save`` use, and its re-test record."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Champion:
    """
    The champion's record: the sum and number of the returns it scored in its re-tests, and its mean return on the
    held-out episodes. A generation's best network (the challenger) replaces it only if it does better on fresh
    episodes that both play (a paired re-test), so that one lucky episode cannot crown a network, and, with a
    held-out check, also on the held-out episodes.

    :param return_sum: the sum of the champion's re-test returns
    :param episode_count: the number of its re-test episodes (0: no champion yet)
    :param holdout: its mean return on the held-out episodes (-inf: not measured)
    """

    return_sum: float = 0.0
    episode_count: int = 0
    holdout: float = -np.inf

    @property
    def mean(self) -> float:
        """The champion's mean return over all its re-test episodes (-inf before there is one)."""
        return self.return_sum / self.episode_count if self.episode_count > 0 else -np.inf

    @property
    def exists(self) -> bool:
        """Whether a network has been crowned."""
        return self.episode_count > 0

    def needs_retest(self, fitness: float, retest_episodes: int) -> bool:
        """
        Whether a challenger of this fitness must be re-tested beside the champion before it can be crowned.

        :param fitness: the challenger's fitness this generation
        :param retest_episodes: episodes of each re-test (0: none)

        ">=": a champion at the best score a network can get must keep facing re-tests, or it is never dethroned.
        """
        return retest_episodes > 0 and bool(np.isfinite(fitness)) and fitness >= self.mean

    def _record_with(self, champion: np.ndarray) -> tuple[float, int]:
        """The re-test record once the champion's returns on the latest re-test are added."""
        if np.all(np.isfinite(champion)):
            return self.return_sum + float(champion.sum()), self.episode_count + champion.size
        # A champion that breaks the env is dethroned by any finite challenger.
        return 0.0, 0

    def wins_retest(self, challenger: np.ndarray, champion: np.ndarray) -> bool:
        """
        Whether the challenger beats the champion's record on their re-test.

        :param challenger: the challenger's returns on the re-test episodes
        :param champion: the champion's returns on the same episodes (empty without a champion)
        """
        return_sum, count = self._record_with(champion)
        return bool(np.all(np.isfinite(challenger))) and (count == 0 or challenger.mean() > return_sum / count)

    def contest(
        self,
        fitness: float,
        retest_episodes: int,
        challenger: np.ndarray | None = None,
        champion: np.ndarray | None = None,
        holdout: "HoldoutCheck | None" = None,
    ) -> bool:
        """
        Decide whether the challenger is crowned, and update the record.

        :param fitness: the challenger's fitness this generation
        :param retest_episodes: episodes of each re-test; 0 crowns a challenger whose fitness beats the champion's
            (right for deterministic envs)
        :param challenger: its returns on the re-test episodes (when :meth:`needs_retest`)
        :param champion: the champion's returns on the same episodes (empty without a champion)
        :param holdout: the held-out check, when the challenger won its re-test and one was run
        :return: whether the challenger replaces the champion
        """
        if not np.isfinite(fitness):
            return False
        if retest_episodes == 0:
            if fitness <= self.mean:
                return False
            self.return_sum, self.episode_count = fitness, 1
            return True
        if challenger is None:
            return False
        won = self.wins_retest(challenger, champion)
        self.return_sum, self.episode_count = self._record_with(champion)
        if not self.exists:
            # A champion that broke the env on its re-test is dethroned by any finite challenger.
            self.holdout = -np.inf
        elif holdout is not None and holdout.champion is not None:
            self.holdout = holdout.champion
        # ">=", as in needs_retest: on a fixed held-out set, a champion at the best score must stay beatable.
        if not won or (holdout is not None and not holdout.challenger >= self.holdout):
            return False
        self.return_sum, self.episode_count = float(challenger.sum()), challenger.size
        self.holdout = -np.inf if holdout is None else holdout.challenger
        return True


@dataclass
class HoldoutCheck:
    """
    The mean returns on the held-out episodes of a challenger that won its re-test, and of the champion when its
    own was not measured yet.

    :param challenger: the challenger's mean held-out return (NaN where the env gave a non-finite value)
    :param champion: the champion's, or None when it is already in the record
    """

    challenger: float
    champion: float | None = None
