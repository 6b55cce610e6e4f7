"""One periodic task of the cooperative scheduler (flight/scheduler.py, DESIGN §3.1): its
period, offset, budget, criticality and run statistics.  The scheduler dispatches it."""

from hal.compat import const

_BIG = const(1 << 29)  # longest period/offset: well inside ticks_diff's half period


class Task:
    """One periodic task.  ``fn()`` takes no argument; it reads time from the clock."""

    def __init__(self, name, period_us, fn, offset_us=0, budget_us=0, critical=False,
                 max_faults=3, soft=False):
        if period_us <= 0 or period_us >= _BIG:
            raise ValueError("period_us out of range")
        if offset_us < 0 or offset_us >= _BIG:
            raise ValueError("offset_us out of range")
        if budget_us < 0:
            raise ValueError("budget_us must be >= 0 (0: no budget)")
        if max_faults < 1:
            raise ValueError("max_faults must be >= 1")
        self.name = name
        self.period_us = int(period_us)
        self.fn = fn
        self.offset_us = int(offset_us)
        self.budget_us = int(budget_us)
        self.critical = critical
        self.max_faults = max_faults
        # soft: a release that passed behind a longer task is skipped (counted in
        # ``skipped``), never a deadline miss (the APT's 1 kHz mirror task: the mirror
        # holds its last command, the next run catches up).
        self.soft = soft
        self.enabled = True
        self.next_release = 0
        self.last_start = 0
        self.reset_stats()

    def reset_stats(self):
        self.runs = 0
        self.cpu_us = 0
        self.max_cpu_us = 0
        self.overruns = 0
        self.late_starts = 0
        self.max_late_us = 0
        self.deadline_misses = 0
        self.skipped = 0
        self.faults = 0
        self.consecutive_faults = 0
        self.last_error = None

    def stats(self):
        """Statistics as a dict (housekeeping; allocates, so not for the hot path)."""
        return {
            "name": self.name,
            "period_us": self.period_us,
            "enabled": self.enabled,
            "runs": self.runs,
            "cpu_us": self.cpu_us,
            "max_cpu_us": self.max_cpu_us,
            "overruns": self.overruns,
            "late_starts": self.late_starts,
            "max_late_us": self.max_late_us,
            "deadline_misses": self.deadline_misses,
            "skipped": self.skipped,
            "faults": self.faults,
        }
