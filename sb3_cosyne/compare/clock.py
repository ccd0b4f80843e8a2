"""The training clock of a comparison run: CPU and wall seconds, paused while the agent is evaluated."""

import time

#: what each clock reads
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


class TrainingClock:
    """
    Seconds spent training on both clocks (process CPU time and wall time), not counting the pauses.

    The clock starts paused; :meth:`resume` starts it.
    """

    def __init__(self) -> None:
        self._spent = {name: 0.0 for name in CLOCKS}
        self._started: dict[str, float] | None = None

    @property
    def running(self) -> bool:
        """Whether the clock is counting."""
        return self._started is not None

    def resume(self) -> None:
        """Start counting (again); does nothing when it is counting already."""
        if self._started is None:
            self._started = {name: read() for name, read in CLOCKS.items()}

    def pause(self) -> None:
        """Stop counting and keep what was counted."""
        self._spent = self.elapsed()
        self._started = None

    def seconds(self, name: str) -> float:
        """
        :param name: ``"cpu"`` or ``"wall"``
        :return: seconds counted so far on that clock
        """
        if self._started is None:
            return self._spent[name]
        return self._spent[name] + CLOCKS[name]() - self._started[name]

    def elapsed(self) -> dict[str, float]:
        """
        :return: seconds counted so far on each clock, ``{"cpu": ..., "wall": ...}``
        """
        return {name: self.seconds(name) for name in CLOCKS}
