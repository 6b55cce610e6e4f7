"""What the scheduler declares and reports (DESIGN §3.7): the :class:`Task` and its run
statistics, the scheduler's events, its housekeeping fields, the per-task diagnostic set
(APID 0x0A5) and the functions that fill them from a :class:`flight.scheduler.Scheduler`'s
counters, in declared order.

The scheduler (flight/scheduler.py) re-exports every name here: modules and the ground
export keep reading them as ``flight.scheduler.Task``, ``EVENTS``, ``HK``, ``HK_DIAG`` and
``TASK_NAMES``, and the Scheduler's ``hk`` / ``hk_diag`` methods are :func:`pack_hk` /
:func:`pack_hk_diag`.

Heap (issue 11): an instance attribute costs an 8-octet slot of the instance's hash table
(grown through 8, 10, 12, 17, 23 slots), a list item 4 octets.  A task's run statistics
and the declaration only the scheduler reads are therefore the items of one list,
``Task.row``, indexed by the ``S_*`` constants (the scheduler and the packers below index
it directly: no allocation, no attribute lookup); a Task's six attributes (a 6-slot
table) are what is read on every dispatch or written from outside (``fn``,
``budget_us``, ``enabled``, ``next_release``, ``last_start``, ``row``).  ``task.name``,
``task.runs`` and the row's other names still read as attributes
(:meth:`Task.__getattr__`: tests, benches, ground tools, never a hot path); write them
through ``row``.  Until the scheduler starts, ``next_release`` holds the task's offset
from the start (``offset_us``), which the start (or a later ``add``) turns into the
first release: the offset is needed once.  The layout lives here,
with the scheduler's other declarations, so that one module's globals hold it (a
public constant is a globals slot in the module defining it; its importers fold it).
"""

from hal.compat import const
from flight.events import SEV_CRITICAL, SEV_ERROR, SEV_WARN, Event
from flight.telemetry import HkField

_BIG = const(1 << 29)  # longest period/offset: well inside ticks_diff's half period

# ``Task.row``: the run statistics (reset by reset_stats), then the declaration.
S_RUNS = const(0)
S_CPU_US = const(1)
S_MAX_CPU_US = const(2)
S_OVERRUNS = const(3)
S_LATE_STARTS = const(4)
S_MAX_LATE_US = const(5)
S_DEADLINE_MISSES = const(6)
S_SKIPPED = const(7)
S_FAULTS = const(8)
S_CONSECUTIVE_FAULTS = const(9)
S_LAST_ERROR = const(10)
S_NAME = const(11)
S_PERIOD_US = const(12)
S_MAX_FAULTS = const(13)
S_CRITICAL = const(14)
S_SOFT = const(15)
S_ON_DISABLE = const(16)
_ROW_LEN = const(17)

# The attribute names of the row's items, in row order (Task.__getattr__).
_ROW_NAMES = ("runs", "cpu_us", "max_cpu_us", "overruns", "late_starts", "max_late_us",
              "deadline_misses", "skipped", "faults", "consecutive_faults", "last_error",
              "name", "period_us", "max_faults", "critical", "soft", "on_disable")


class Task:
    """One periodic task of the scheduler (DESIGN §3.1): its period, offset, budget,
    criticality and run statistics.  ``fn()`` takes no argument; it reads time from the
    clock.

    ``soft``: a release that passed behind a longer task is skipped (counted in
    ``skipped``), never a deadline miss (the APT's 1 kHz mirror task: the mirror holds
    its last command, the next run catches up).

    ``on_disable``: the owner's safe state (or None), called once when the scheduler
    disables the task for its faults (:func:`disable`).  A dead task must leave nothing
    acting on its last state: the APT's laser, mirror and ADCS feedback (flight/apt.py).
    An item of the row, not an attribute: a seventh attribute grew every task's table
    (+1.9 kB of heap at boot, ``make target-bench``), one on a few tasks moved the APT's
    lookups (+0.7 k instructions a tick); the row's 17th item costs 16 B a task."""

    def __init__(self, name, period_us, fn, offset_us=0, budget_us=0, critical=False,
                 max_faults=3, soft=False, on_disable=None):
        if period_us <= 0 or period_us >= _BIG:
            raise ValueError("period_us out of range")
        if offset_us < 0 or offset_us >= _BIG:
            raise ValueError("offset_us out of range")
        if budget_us < 0:
            raise ValueError("budget_us must be >= 0 (0: no budget)")
        if max_faults < 1:
            raise ValueError("max_faults must be >= 1")
        row = [0] * _ROW_LEN  # type: list  # (exactly _ROW_LEN items: 68 octets, 5 blocks)
        row[S_LAST_ERROR] = None
        row[S_NAME] = name
        row[S_PERIOD_US] = int(period_us)
        row[S_MAX_FAULTS] = max_faults
        row[S_CRITICAL] = critical
        row[S_SOFT] = soft
        row[S_ON_DISABLE] = on_disable
        self.row = row
        self.fn = fn
        self.budget_us = int(budget_us)
        self.enabled = True
        self.next_release = int(offset_us)  # (the offset until the scheduler starts)
        self.last_start = 0

    def __getattr__(self, attr):
        # Only for names no attribute holds: the row's items (``task.runs``).
        if attr == "row" or attr not in _ROW_NAMES:
            raise AttributeError(attr)
        return self.row[_ROW_NAMES.index(attr)]

    def reset_stats(self):
        row = self.row
        for k in range(S_LAST_ERROR):
            row[k] = 0
        row[S_LAST_ERROR] = None

    def stats(self):
        """Statistics as a dict (housekeeping; allocates, so not for the hot path)."""
        row = self.row
        return {
            "name": row[S_NAME],
            "period_us": row[S_PERIOD_US],
            "enabled": self.enabled,
            "runs": row[S_RUNS],
            "cpu_us": row[S_CPU_US],
            "max_cpu_us": row[S_MAX_CPU_US],
            "overruns": row[S_OVERRUNS],
            "late_starts": row[S_LATE_STARTS],
            "max_late_us": row[S_MAX_LATE_US],
            "deadline_misses": row[S_DEADLINE_MISSES],
            "skipped": row[S_SKIPPED],
            "faults": row[S_FAULTS],
        }


EV_TASK_FAULT = const(0x10)
EV_TASK_DISABLED = const(0x11)
EV_TASK_OVERRUN = const(0x12)
EV_DEADLINE_MISS = const(0x13)
EV_WATCHDOG_WITHHELD = const(0x14)
EV_WATCHDOG_FAULT = const(0x15)
EV_CRITICAL_TASK_DISABLED = const(0x16)
EV_TASK_OUT_OF_MEMORY = const(0x17)
EV_GC_IN_PASS = const(0x18)
EV_TASK_SAFING_FAILED = const(0x19)
EV_TASK_RETRIED = const(0x1A)

EVENTS = (
    Event(EV_TASK_FAULT, "TASK_FAULT", SEV_ERROR, "a task raised (contained, counted)",
          (("error", "str"),)),
    Event(EV_TASK_OUT_OF_MEMORY, "TASK_OUT_OF_MEMORY", SEV_ERROR,
          "a task raised MemoryError (contained, counted as a fault; heap exhausted or "
          "fragmented)", ()),
    Event(EV_TASK_DISABLED, "TASK_DISABLED", SEV_ERROR,
          "a task faulted max_faults times in a row: disabled", (("faults", "int"),)),
    Event(EV_TASK_SAFING_FAILED, "TASK_SAFING_FAILED", SEV_CRITICAL,
          "a disabled task's owner could not reach its safe state (Task.on_disable raised)",
          (("error", "str"),)),
    Event(EV_TASK_RETRIED, "TASK_RETRIED", SEV_WARN,
          "a task its faults had disabled runs again: a session started (it is disabled "
          "again after max_faults faults in a row)", (("faults", "int"),)),
    Event(EV_CRITICAL_TASK_DISABLED, "CRITICAL_TASK_DISABLED", SEV_CRITICAL,
          "a critical task was disabled: the watchdog will reset the payload",
          (("faults", "int"),)),
    Event(EV_TASK_OVERRUN, "TASK_OVERRUN", SEV_WARN, "a task ran over its CPU budget "
          "(first time only)", (("cost_us", "int"),)),
    Event(EV_DEADLINE_MISS, "DEADLINE_MISS", SEV_WARN, "a task finished after its next "
          "release (first time only)", (("late_us", "int"),)),
    Event(EV_WATCHDOG_WITHHELD, "WATCHDOG_WITHHELD", SEV_CRITICAL,
          "a critical task stalled or was disabled: watchdog no longer fed (reset follows)",
          (("task", "str"),)),
    Event(EV_WATCHDOG_FAULT, "WATCHDOG_FAULT", SEV_ERROR,
          "the watchdog could not be started or fed", (("faults", "int"),)),
    Event(EV_GC_IN_PASS, "GC_IN_PASS", SEV_WARN,
          "the free heap reached the collection floor in quiet time (a pass): collected "
          "there, delaying the APT (the heap collected before the pass did not last it)",
          (("free_bytes", "int"), ("collect_us", "int"))),
)


def disable(sched, t):
    """Disable ``t`` after its max_faults faults in a row (Scheduler._fault), report it,
    then run its owner's safe state (``Task.on_disable``), contained: a failure there is
    TASK_SAFING_FAILED, never an exception out of the scheduler.  Needs no heap but for
    the events' argument lists (the scheduler, not its bound ``_event``, is passed: a
    bound method as a value is an allocation)."""
    row = t.row
    t.enabled = False
    try:
        args = [row[S_FAULTS]]
    except MemoryError:
        args = None
    sched._event(EV_CRITICAL_TASK_DISABLED if row[S_CRITICAL] else EV_TASK_DISABLED, args,
                 row[S_NAME])
    hook = row[S_ON_DISABLE]
    if hook is not None:
        try:
            hook()
        except Exception as e:
            try:
                args = [repr(e)]
            except MemoryError:
                args = None
            sched._event(EV_TASK_SAFING_FAILED, args, row[S_NAME])


def retry_disabled(sched, emit):
    """A session's start (flight/app.py): every task its faults disabled runs again, each
    a TASK_RETRIED event; one that faults max_faults times in a row again is disabled
    again.  Not the critical ones: their disabling withholds the watchdog (a reset)."""
    for t in sched.tasks:
        row = t.row
        if not t.enabled and not row[S_CRITICAL] \
                and row[S_CONSECUTIVE_FAULTS] >= row[S_MAX_FAULTS]:
            sched.enable(row[S_NAME])
            emit(EV_TASK_RETRIED, [row[S_FAULTS]], row[S_NAME])

HK = (
    HkField("sched_overruns", "u16", warn=(0, 0), description="task budget overruns (all tasks)"),
    HkField("sched_deadline_misses", "u16", warn=(0, 0),
            description="releases finished after the next one (all tasks)"),
    HkField("sched_faults", "u16", alarm=(0, 0), description="task exceptions (all tasks)"),
    HkField("sched_disabled", "u8", alarm=(0, 0), description="tasks disabled by faults"),
    HkField("watchdog_withheld", "u16", alarm=(0, 0),
            description="idle steps that withheld the watchdog feed"),
    HkField("watchdog_faults", "u8", alarm=(0, 0), description="watchdog start/feed errors"),
    HkField("gc_runs", "u16", description="gc.collect() runs in idle time"),
    HkField("heap_free", "u32", "B", warn=(16384, 1e9),
            description="free heap, sampled in idle time (0: port cannot tell)"),
)

# Tasks of the diagnostic set (APID 0x0A5), in this order (the flight tasks' names).
TASK_NAMES = ("tc", "health", "hk", "apt", "adcs_feedback", "sipm_bias", "framer",
              "comparator", "pointahead")
_TASK_FIELDS = (
    ("runs", "u32", "", "runs since boot"),
    ("cpu_ms", "u32", "ms", "CPU time since boot"),
    ("max_cpu_us", "u32", "us", "longest run"),
    ("overruns", "u16", "", "runs over the CPU budget"),
    ("late_starts", "u16", "", "starts after the release (+ tolerance)"),
    ("max_late_us", "u32", "us", "largest start lateness"),
    ("deadline_misses", "u16", "", "runs finished after the next release"),
    ("skipped", "u16", "", "releases skipped after a long run"),
    ("faults", "u16", "", "exceptions"),
    ("enabled", "u8", "", "0: disabled after faults"),
)


class _TaskDiag:
    """The per-task fields of the diagnostic set, TASK_NAMES × _TASK_FIELDS, as a
    sequence of HkField built on demand.  Their names and descriptions are composed
    strings (no flash constants): held as 80 records they would cost ~9 KiB of heap on
    the target for what only the packer's construction and the ground export read."""

    def __len__(self):
        return len(TASK_NAMES) * len(_TASK_FIELDS)

    def __getitem__(self, i):
        n = len(_TASK_FIELDS)
        if i < 0:
            i += len(self)
        if i < 0 or i >= len(self):
            raise IndexError(i)
        t = TASK_NAMES[i // n]
        f = _TASK_FIELDS[i % n]
        return HkField("%s_%s" % (t, f[0]), f[1], f[2], description="task %s: %s" % (t, f[3]))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


HK_DIAG = _TaskDiag()


# ------------------------------------------------------------------ telemetry
def pack_hk(sched, values, i):
    """The HK fields of ``sched`` into ``values[i:]`` (its ``hk`` method)."""
    ov = dm = fa = dis = 0
    for t in sched.tasks:
        st = t.row  # (the statistics: Task.row)
        ov += st[S_OVERRUNS]
        dm += st[S_DEADLINE_MISSES]
        fa += st[S_FAULTS]
        if not t.enabled:
            dis += 1
    values[i] = ov
    values[i + 1] = dm
    values[i + 2] = fa
    values[i + 3] = dis
    values[i + 4] = sched.watchdog_withheld
    values[i + 5] = sched.watchdog_faults
    values[i + 6] = sched.gc_runs
    values[i + 7] = sched.heap_free


def pack_hk_diag(sched, values, i):
    """The diagnostic set of ``sched`` into ``values[i:]`` (its ``hk_diag`` method)."""
    n = len(_TASK_FIELDS)
    for k in range(len(TASK_NAMES)):
        j = i + k * n
        t = None
        for x in sched.tasks:
            if x.row[S_NAME] == TASK_NAMES[k]:
                t = x
        if t is None:  # not on this board
            for m in range(n):
                values[j + m] = 0
            continue
        st = t.row
        values[j] = st[S_RUNS]
        values[j + 1] = st[S_CPU_US] // 1000
        values[j + 2] = st[S_MAX_CPU_US]
        values[j + 3] = st[S_OVERRUNS]
        values[j + 4] = st[S_LATE_STARTS]
        values[j + 5] = st[S_MAX_LATE_US]
        values[j + 6] = st[S_DEADLINE_MISSES]
        values[j + 7] = st[S_SKIPPED]
        values[j + 8] = st[S_FAULTS]
        values[j + 9] = 1 if t.enabled else 0
