"""Issue 13: the same seed gives the same metrics file bit for bit (speed keys aside), and the
flight tasks' timing is the declared cost model (sim/run/costmodel.py), not the host's."""

import json

from sim.run import cli, costmodel, report


def _metrics_file(tmp_path, name, *extra):
    path = tmp_path / name
    rc = cli.main(["--scenario", "nominal", "--seed", "3", "--duration", "25", "--quiet",
                   "--json", str(path)] + list(extra))
    assert rc == 0
    return path.read_text(encoding="utf-8")


def _cut_speed(text):
    """The document up to the host-dependent keys (written last by report.metrics_json)."""
    lines = text.splitlines()
    keys = ['  "%s":' % k for k in report.SPEED_KEYS]
    i = next(i for i, ln in enumerate(lines) if any(ln.startswith(k) for k in keys))
    # every line after the first speed key is a speed key or the closing brace
    assert all(any(ln.startswith(k) for k in keys) for ln in lines[i:-1]), lines[i:]
    return "\n".join(lines[:i])


def test_same_seed_same_metrics_file(tmp_path):
    a = _metrics_file(tmp_path, "a.json")
    b = _metrics_file(tmp_path, "b.json")
    ca, cb = _cut_speed(a), _cut_speed(b)
    assert '"packets_ok"' in ca and '"deadline_misses"' in ca
    assert ca == cb
    doc = json.loads(a)
    assert doc["timing"] == "cost-model" and doc["charge_cpu"] is False
    # the declared table, converted at the stated rate (215 k instructions at 100 MIPS)
    assert doc["cost_model"]["task_us"]["apt"] == round(costmodel.TASK_INSTR["apt"] / 100.0) == 2150
    for k in report.SPEED_KEYS:
        assert k in doc


def test_cost_model_counts_declared_cost_per_dispatch():
    class T:
        def __init__(self, name):
            self.name = name

    class S:
        current = None

    class C:
        _burnt = 0

    cm = costmodel.CostModel(C(), table={"apt": 308000, "hk": 5930000}, mips=100.0)
    cm.sched = S()
    apt = T("apt")
    S.current = apt
    c0 = cm.cpu_now_us()
    c1 = cm.cpu_now_us()
    assert c1 - c0 == 3080
    S.current = T("hk")
    c2 = cm.cpu_now_us()
    assert cm.cpu_now_us() - c2 == 59300
    S.current = None
    assert cm.cpu_now_us() == cm.cpu_now_us()  # idle reads cost nothing
    assert costmodel.task_cost_us("unknown") == costmodel.DEFAULT_INSTR // 100
