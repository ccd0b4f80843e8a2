"""The champion: the best network found so far, which ``predict`` and ``save`` use, and its re-test record."""

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class Champion:
    """
    The champion's record: the sum and number of the returns it scored in its re-tests, and its mean return on the
    held-out episodes. A generation's best network (the challenger) replaces it only if it does better on fresh
    episodes that both play (a paired re-test), so that one lucky episode cannot crown a network, and, with a
    held-out check, also on the held-out episodes.

    :param return_sum: the sum of the champion's re-test returns
    :param episode_count: the number of its re-test episodes (0: no champion yet)
    :param holdout: its mean return on the held-out episodes (-inf: not measured, or the env broke on them)
    :param holdout_returns: its return on each held-out episode (None: not measured), which a racing challenger
        is compared with on the episodes it played
    """

    return_sum: float = 0.0
    episode_count: int = 0
    holdout: float = -np.inf
    holdout_returns: np.ndarray | None = None

    @property
    def mean(self) -> float:
        """The champion's mean return over all its re-test episodes (-inf before there is one)."""
        return self.return_sum / self.episode_count if self.episode_count > 0 else -np.inf

    @property
    def exists(self) -> bool:
        """Whether a network has been crowned."""
        return self.episode_count > 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Champion):
            return NotImplemented
        mine, theirs = self.holdout_returns, other.holdout_returns
        same_returns = mine is theirs or (
            mine is not None and theirs is not None and np.array_equal(mine, theirs, equal_nan=True)
        )
        record = (self.return_sum, self.episode_count, self.holdout)
        return same_returns and record == (other.return_sum, other.episode_count, other.holdout)

    @property
    def holdout_known(self) -> bool:
        """Whether the champion's held-out score is known (a model saved before the returns were kept has the mean only)."""
        return self.holdout_returns is not None or bool(np.isfinite(self.holdout))

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
            self._set_holdout(None)
        elif holdout is not None and holdout.champion is not None:
            self._set_holdout(holdout.champion)
        if not won or (holdout is not None and not holdout.beats(self.holdout, self.holdout_returns)):
            return False
        self.return_sum, self.episode_count = float(challenger.sum()), challenger.size
        self._set_holdout(None if holdout is None else holdout.challenger)
        return True

    def forget_holdout(self) -> None:
        """Forget the champion's held-out returns (a new set was drawn): the next held-out check measures them again."""
        self._set_holdout(None)

    def _set_holdout(self, returns: np.ndarray | None) -> None:
        """Record the champion's held-out returns; a champion that broke the env on them is beaten by any finite score."""
        self.holdout_returns = returns
        mean = -np.inf if returns is None else float(np.mean(returns))
        self.holdout = mean if np.isfinite(mean) else -np.inf


@dataclass
class HoldoutCheck:
    """
    The returns on the held-out episodes of a challenger that won its re-test, and of the champion when its own
    were not measured yet.

    :param challenger: the challenger's held-out returns (NaN where the env gave a non-finite value); only the
        first episodes' when it stopped racing
    :param champion: the champion's, or None when they are already in the record
    :param stopped: whether the challenger stopped racing, behind the champion on the episodes it played
    :param margin: the lead over the champion the challenger needs, in standard errors of their paired difference
    """

    challenger: np.ndarray
    champion: np.ndarray | None = None
    stopped: bool = False
    margin: float = 0.0

    def beats(self, champion_mean: float, champion_returns: np.ndarray | None = None) -> bool:
        """
        Whether the challenger played every held-out episode and scored at least ``champion_mean`` on them, with a
        lead of ``margin`` standard errors of the paired difference when the champion's returns on the same episodes
        are known and finite (else any lead will do).

        ">=", as in ``Champion.needs_retest``: on a fixed held-out set, a champion at the best score must stay beatable.

        :param champion_mean: the champion's held-out mean (-inf: not measured, or the env broke on them)
        :param champion_returns: its returns on the same held-out episodes (None: not known)
        """
        if self.stopped:
            return False
        lead = float(np.mean(self.challenger)) - champion_mean
        paired = champion_returns is not None and champion_returns.size == self.challenger.size > 1
        if self.margin > 0 and paired and np.all(np.isfinite(champion_returns)):
            difference = self.challenger - champion_returns
            return lead >= self.margin * float(np.std(difference, ddof=1)) / np.sqrt(difference.size)
        return bool(lead >= 0)


def keeps_racing(challenger: np.ndarray, champion: np.ndarray | None) -> bool:
    """
    Whether a challenger that played the first held-out episodes goes on to the next ones: it is level with or
    ahead of the champion on those episodes (paired, as both played them), or the champion's returns are unknown
    or broken (any finite score beats them).

    :param challenger: the challenger's returns on the first ``challenger.size`` held-out episodes
    :param champion: the champion's returns on all of them (None: unknown)
    """
    if champion is None or not np.all(np.isfinite(champion)):
        return True
    return bool(np.mean(challenger) >= np.mean(champion[: challenger.size]))
