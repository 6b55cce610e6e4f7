"""What the scheduler declares and reports (DESIGN §3.7): its events, its housekeeping
fields, the per-task diagnostic set (APID 0x0A5) and the functions that fill them from
a :class:`flight.scheduler.Scheduler`'s counters, in declared order.

The scheduler (flight/scheduler.py) re-exports every name here: modules and the ground
export keep reading them as ``flight.scheduler.EVENTS``, ``HK``, ``HK_DIAG`` and
``TASK_NAMES``, and the Scheduler's ``hk`` / ``hk_diag`` methods are :func:`pack_hk` /
:func:`pack_hk_diag`.
"""

from hal.compat import const
from flight.events import SEV_CRITICAL, SEV_ERROR, SEV_WARN, Event
from flight.telemetry import HkField

EV_TASK_FAULT = const(0x10)
EV_TASK_DISABLED = const(0x11)
EV_TASK_OVERRUN = const(0x12)
EV_DEADLINE_MISS = const(0x13)
EV_WATCHDOG_WITHHELD = const(0x14)
EV_WATCHDOG_FAULT = const(0x15)
EV_CRITICAL_TASK_DISABLED = const(0x16)
EV_TASK_OUT_OF_MEMORY = const(0x17)
EV_GC_IN_PASS = const(0x18)

EVENTS = (
    Event(EV_TASK_FAULT, "TASK_FAULT", SEV_ERROR, "a task raised (contained, counted)",
          (("error", "str"),)),
    Event(EV_TASK_OUT_OF_MEMORY, "TASK_OUT_OF_MEMORY", SEV_ERROR,
          "a task raised MemoryError (contained, counted as a fault; heap exhausted or "
          "fragmented)", ()),
    Event(EV_TASK_DISABLED, "TASK_DISABLED", SEV_ERROR,
          "a task faulted max_faults times in a row: disabled", (("faults", "int"),)),
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
        ov += t.overruns
        dm += t.deadline_misses
        fa += t.faults
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
            if x.name == TASK_NAMES[k]:
                t = x
        if t is None:  # not on this board
            for m in range(n):
                values[j + m] = 0
            continue
        values[j] = t.runs
        values[j + 1] = t.cpu_us // 1000
        values[j + 2] = t.max_cpu_us
        values[j + 3] = t.overruns
        values[j + 4] = t.late_starts
        values[j + 5] = t.max_late_us
        values[j + 6] = t.deadline_misses
        values[j + 7] = t.skipped
        values[j + 8] = t.faults
        values[j + 9] = 1 if t.enabled else 0
