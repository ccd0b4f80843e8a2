"""The champion: the best network found so far, which ``predict`` and ``save`` use, and its re-test record."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Champion:
    """
    The champion's record: the sum and number of the returns it scored in its re-tests. A generation's best network
    (the challenger) replaces it only if it does better on fresh episodes that both play (a paired re-test), so
    that one lucky episode cannot crown a network.

    :param return_sum: the sum of the champion's re-test returns
    :param episode_count: the number of its re-test episodes (0: no champion yet)
    """

    return_sum: float = 0.0
    episode_count: int = 0

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

    def contest(
        self, fitness: float, retest_episodes: int, challenger: np.ndarray | None = None, champion: np.ndarray | None = None
    ) -> bool:
        """
        Decide whether the challenger is crowned, and update the record.

        :param fitness: the challenger's fitness this generation
        :param retest_episodes: episodes of each re-test; 0 crowns a challenger whose fitness beats the champion's
            (right for deterministic envs)
        :param challenger: its returns on the re-test episodes (when :meth:`needs_retest`)
        :param champion: the champion's returns on the same episodes (empty without a champion)
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
        if np.all(np.isfinite(champion)):
            self.return_sum, self.episode_count = self.return_sum + float(champion.sum()), self.episode_count + champion.size
        else:
            # A champion that breaks the env is dethroned by any finite challenger.
            self.return_sum, self.episode_count = 0.0, 0
        if np.all(np.isfinite(challenger)) and (self.episode_count == 0 or challenger.mean() > self.mean):
            self.return_sum, self.episode_count = float(challenger.sum()), challenger.size
            return True
        return False
