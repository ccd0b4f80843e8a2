"""The training clock of a comparison run: CPU and wall seconds, paused while the agent is evaluated."""

import time

#: what each clock reads
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}

#: wall seconds after which :meth:`TrainingClock.reached` reads the CPU clock again at the latest: a reading costs
#: about 0.3 µs, more than a compiled env step, and the callbacks ask at every step
CPU_READ_INTERVAL = 1e-3


class TrainingClock:
    """
    Seconds spent training on both clocks (process CPU time and wall time), not counting the pauses.

    The clock starts paused; :meth:`resume` starts it.
    """

    def __init__(self) -> None:
        self._spent = {name: 0.0 for name in CLOCKS}
        self._started: dict[str, float] | None = None
        #: (wall clock, CPU seconds counted) at the last reading of the CPU clock by :meth:`reached`
        self._cpu_mark = (-float("inf"), 0.0)

    @property
    def running(self) -> bool:
        """Whether the clock is counting."""
        return self._started is not None

    def resume(self) -> None:
        """Start counting (again); does nothing when it is counting already."""
        if self._started is None:
            self._started = {name: read() for name, read in CLOCKS.items()}
            self._cpu_mark = (-float("inf"), 0.0)

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

    def reached(self, name: str, seconds: float) -> bool:
        """
        Whether the clock has counted ``seconds``: ``self.seconds(name) >= seconds``, but cheaper on the CPU clock.

        That clock is read only once the wall time since its last reading could have carried it to ``seconds`` (a
        thread's CPU time grows no faster than wall time), or at least every :data:`CPU_READ_INTERVAL`; so the
        answer is exact for a single-threaded process, and late by at most that interval per further busy thread.

        :param name: ``"cpu"`` or ``"wall"``
        :param seconds: the mark
        """
        if name != "cpu" or self._started is None:
            return self.seconds(name) >= seconds
        wall = time.perf_counter()
        mark_wall, mark_cpu = self._cpu_mark
        if mark_cpu + (wall - mark_wall) < seconds and wall - mark_wall < CPU_READ_INTERVAL:
            return False
        cpu = self.seconds("cpu")
        self._cpu_mark = (wall, cpu)
        return cpu >= seconds
