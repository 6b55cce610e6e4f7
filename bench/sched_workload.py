"""Scheduler dispatch-overhead workload; runs unchanged on CPython and in the MicroPython VM.

Eight empty tasks with the nominal periods of DESIGN §3.1 on a virtual clock: the time
per dispatch is the scheduler's own cost (pick the due task, account, re-arm, idle step).
"""

from flight.scheduler import Scheduler, Task
from hal.clock import VirtualClock

PERIODS_US = (10000, 20000, 100000, 500000, 100000, 200000, 1000000, 100000)


def _noop():
    pass


def make():
    clock = VirtualClock()
    sched = Scheduler(clock)
    for i, p in enumerate(PERIODS_US):
        sched.add(Task("t%d" % i, p, _noop, budget_us=p // 2, critical=(i == 0)))
    return sched


def run(sched, seconds):
    sched.run_for(int(seconds * 1000000))
    return sched.dispatches
