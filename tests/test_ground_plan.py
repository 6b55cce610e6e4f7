"""`vector-tc plan`: passes from skyfield checked against an independent SGP4 computation
(the `sgp4` package directly, TEME -> Earth-fixed with GMST 1982, WGS84 station, our own
topocentric elevation and root finding), and the run script it writes."""

import datetime as dt
import json
import math
import socket
from pathlib import Path

import pytest

from ground_tools import plan
from ground_tools.__main__ import main
from ground_tools.script import parse_script

ROOT = Path(__file__).resolve().parents[1]
TLE = ROOT / "ground_tools" / "samples" / "vector.tle"
START = "2026-12-02T00:00:00Z"


# ------------------------------------------------------------ independent reference
def _gmst82(jd_ut1):
    """GMST (IAU 1982, Vallado's gstime) in radians."""
    t = (jd_ut1 - 2451545.0) / 36525.0
    s = (-6.2e-6 * t ** 3 + 0.093104 * t ** 2 + (876600.0 * 3600 + 8640184.812866) * t
         + 67310.54841)
    return math.fmod(math.radians(s / 240.0), 2 * math.pi)


def _station_ecef(lat, lon, alt_m):
    a, f = 6378.137, 1 / 298.257223563
    e2 = f * (2 - f)
    la, lo = math.radians(lat), math.radians(lon)
    n = a / math.sqrt(1 - e2 * math.sin(la) ** 2)
    h = alt_m / 1000.0
    return ((n + h) * math.cos(la) * math.cos(lo), (n + h) * math.cos(la) * math.sin(lo),
            (n * (1 - e2) + h) * math.sin(la))


class Reference:
    def __init__(self, tle_path, station, dut1):
        from sgp4.api import Satrec

        lines = [ln.strip() for ln in open(tle_path) if ln.strip()]
        self.sat = Satrec.twoline2rv(lines[1], lines[2])
        self.lat, self.lon, alt = station
        self.st = _station_ecef(*station)
        self.dut1 = dut1  # UT1 - UTC, s: Earth orientation data, the same for both sides

    def elevation(self, unix):
        jd = unix / 86400.0 + 2440587.5
        e, r, _ = self.sat.sgp4(math.floor(jd), jd - math.floor(jd))
        assert e == 0
        g = _gmst82(jd + self.dut1 / 86400.0)
        x = r[0] * math.cos(g) + r[1] * math.sin(g)  # TEME -> pseudo Earth-fixed
        y = -r[0] * math.sin(g) + r[1] * math.cos(g)
        d = (x - self.st[0], y - self.st[1], r[2] - self.st[2])
        la, lo = math.radians(self.lat), math.radians(self.lon)
        up = (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))
        s = sum(a * b for a, b in zip(d, up, strict=True)) / math.sqrt(sum(a * a for a in d))
        return math.degrees(math.asin(s))

    def crossing(self, a, b, level):
        fa = self.elevation(a) - level
        for _ in range(60):
            m = (a + b) / 2
            fm = self.elevation(m) - level
            if (fm < 0) == (fa < 0):
                a, fa = m, fm
            else:
                b = m
        return (a + b) / 2

    def maximum(self, a, b):
        g = (math.sqrt(5) - 1) / 2
        for _ in range(80):
            c, d = b - g * (b - a), a + g * (b - a)
            if self.elevation(c) > self.elevation(d):
                b = d
            else:
                a = c
        m = (a + b) / 2
        return m, self.elevation(m)


def _unix(iso):
    return plan.parse_time(iso).timestamp()


def test_passes_match_an_independent_sgp4_computation():
    planner = plan.Planner(str(TLE), plan.OGS, 20.0)
    passes = planner.passes(plan.parse_time(START), 24.0)
    assert len(passes) >= 2
    dut1 = float(planner.ts.from_datetime(plan.parse_time(START)).dut1)
    ref = Reference(TLE, plan.OGS, dut1)
    for p in passes:
        r, c, s = _unix(p["rise"]), _unix(p["culmination"]), _unix(p["set"])
        assert r < c < s
        rr = ref.crossing(r - 30, c, 20.0)
        rs = ref.crossing(s + 30, c, 20.0)
        rc, rel = ref.maximum(rr, rs)
        assert abs(rr - r) < 1.0, (p, rr - r)
        assert abs(rs - s) < 1.0, (p, rs - s)
        assert abs(rc - c) < 1.0, (p, rc - c)
        assert abs(rel - p["max_elevation_deg"]) < 0.05, (p, rel)
        assert rel > 20.0
    # and no pass was missed: the reference elevation stays below 20 deg between passes
    t = _unix(START)
    end = t + 24 * 3600
    inside = 0
    while t < end:
        if ref.elevation(t) > 20.05:
            inside += 1
            assert any(_unix(p["rise"]) <= t <= _unix(p["set"]) for p in passes), t
        t += 20.0
    assert inside > 0


def test_plan_json_cli_and_script(tmp_path, capsys, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("plan must not open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    script = tmp_path / "pass.tc"
    rc = main(["plan", "--tle", str(TLE), "--station", "55.69889,36.75889,180",
               "--from", START, "--json", "--script", str(script)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    passes = json.loads(out)
    assert passes and set(passes[0]) >= {"rise", "culmination", "set", "max_elevation_deg"}
    for p in passes:
        for k in ("rise", "culmination", "set"):
            assert p[k].endswith("Z")
            dt.datetime.fromisoformat(p[k][:-1])
        assert p["max_elevation_deg"] >= 20.0
    text = script.read_text()
    steps = parse_script(text)  # a valid `run` script, checked like any other
    tt = [ln for ln in text.splitlines() if ln.startswith("send TIMETAG")]
    assert len(tt) == 4 * len(passes)
    first = passes[0]
    # the session starts 2.9 s before the station's beacon and uplink come on (18°, a
    # minute or two before the 20° rise): the breakdown sweep starts in the dark
    start_tag = next(ln for ln in tt if "opcode=SESSION_START" in ln)
    t_start = float(start_tag.split("time=")[1].split()[0])
    assert t_start == pytest.approx(_unix(first["beacon_on"]) - 2.9, abs=0.1)
    assert 10.0 < _unix(first["rise"]) - _unix(first["beacon_on"]) < 300.0
    up = next(ln for ln in tt if "STANDBY" in ln)
    assert float(up.split("time=")[1].split()[0]) == pytest.approx(t_start - 120.0, abs=0.1)
    assert steps


def test_the_beacon_crossing_is_at_the_beacon_elevation():
    planner = plan.Planner(TLE, plan.OGS, 20.0, 15.0)
    for p in planner.passes(plan.parse_time(START), 24.0):
        t = planner.ts.from_datetime(p["_beacon_on"])
        assert float(planner.elevation(t)) == pytest.approx(15.0, abs=0.01)
        assert float(planner.elevation(planner.ts.from_datetime(p["_rise"]))) == \
            pytest.approx(20.0, abs=0.01)
    text = plan.session_script(planner.passes(plan.parse_time(START), 24.0), "sat",
                               plan.parse_time("1970-01-01T00:00:00Z"), session_lead_s=10.0)
    assert "starts 10 s before the station's beacon" in text


@pytest.mark.parametrize("argv,msg", [
    (["--beacon-el", "25"], "--beacon-el 25: must be within 0 .. --min-el"),
    (["--session-lead", "-1"], "--session-lead -1: must be within 0 .. 600 s"),
])
def test_plan_refuses_a_beacon_above_the_threshold_or_a_negative_lead(capsys, argv, msg):
    rc = main(["plan", "--tle", str(TLE), "--from", START] + argv)
    err = capsys.readouterr().err
    assert rc != 0 and msg in err


def test_default_station_is_the_ogs_and_min_el_is_the_threshold(capsys):
    assert plan.OGS == pytest.approx((55.698889, 36.758889, 180.0), abs=1e-5)
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--min-el", "40", "--json"])
    out, _ = capsys.readouterr()
    high = json.loads(out)
    rc2 = main(["plan", "--tle", str(TLE), "--from", START, "--json"])
    out2, _ = capsys.readouterr()
    assert rc == rc2 == 0
    low = json.loads(out2)
    assert all(p["max_elevation_deg"] >= 40 for p in high)
    assert len(high) < len(low)
    # the 40-degree window of a pass lies inside its 20-degree window
    for h in high:
        match = [p for p in low if p["culmination"][:16] == h["culmination"][:16]]
        assert match and match[0]["rise"] < h["rise"] and h["set"] < match[0]["set"]


@pytest.mark.parametrize("argv, msg", [
    (["--station", "95,0,0"], "latitude"),
    (["--from", "yesterday"], "ISO 8601"),
    (["--dark-knee"], "--dark-knee: only with --script"),
    (["--warm-up"], "--warm-up: only with --script"),
])
def test_plan_bad_input_is_one_line(capsys, argv, msg):
    rc = main(["plan", "--tle", str(TLE)] + argv)
    _, err = capsys.readouterr()
    assert rc == 2 and msg in err and "Traceback" not in err


def test_bad_tle_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.tle"
    lines = TLE.read_text().splitlines()
    bad.write_text("\n".join([lines[0], lines[1][:-1] + "0", lines[2]]) + "\n")
    rc = main(["plan", "--tle", str(bad)])
    _, err = capsys.readouterr()
    assert rc == 2 and "checksum" in err


def _tags(text):
    """[(onboard time, the rest of the line)] of a script's TIMETAG lines."""
    out = []
    for ln in text.splitlines():
        if ln.startswith("send TIMETAG"):
            rest = ln.split("time=")[1]
            out.append((float(rest.split()[0]), rest.split(None, 1)[1]))
    return out


def _planned(tmp_path, capsys, hours, *flags):
    """(passes, the script's text, stderr) of `plan --json --script` with ``flags``."""
    script = tmp_path / "pass.tc"
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--hours", str(hours), "--json",
               "--script", str(script)] + list(flags))
    out, err = capsys.readouterr()
    assert rc == 0, err
    text = script.read_text()
    assert parse_script(text)
    return json.loads(out), text, err


def test_dark_knee_keeps_each_session_past_the_uplinks_end(tmp_path, capsys):
    passes, text, _err = _planned(tmp_path, capsys, 12, "--dark-knee")
    tags = _tags(text)
    assert len(tags) == 6 * len(passes)
    planner = plan.Planner(TLE, plan.OGS, 20.0, 18.0)
    for i, p in enumerate(passes):
        # the uplink goes off at the set's 18° crossing, after the 20° set
        off = _unix(p["beacon_off"])
        assert 5.0 < off - _unix(p["set"]) < 300.0
        el = planner.elevation(planner.ts.from_datetime(plan.parse_time(p["beacon_off"])))
        assert float(el) == pytest.approx(18.0, abs=0.01)
        mine = tags[6 * i:6 * i + 6]
        names = [r.split()[0] for _t, r in mine]
        assert names == ["opcode=SET_MODE", "opcode=SESSION_START", "opcode=BIAS_KNEE_CALIBRATE",
                         "opcode=SESSION_END", "opcode=PARAM_SAVE", "opcode=SET_MODE"], names
        t = [x for x, _r in mine]
        assert t == sorted(t)
        assert t[2] == pytest.approx(off + plan.DARK_KNEE_AFTER_UPLINK_S, abs=0.1)
        assert t[3] == pytest.approx(t[2] + plan.DARK_KNEE_SESSION_S, abs=0.1)
        assert t[4] > t[3] and "SAFE" in mine[5][1]
    # without the option: the session ends at the set, nothing saved
    assert "BIAS_KNEE_CALIBRATE" not in plan.session_script(
        planner.passes(plan.parse_time(START), 12.0), "sat", plan.parse_time(START))


def test_warm_up_starts_each_session_100_s_before_the_beacon_and_saves_after(tmp_path, capsys):
    script = tmp_path / "pass.tc"
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--hours", "12", "--json",
               "--script", str(script), "--warm-up"])
    out, err = capsys.readouterr()
    assert rc == 0 and "warning" not in err, err
    passes = json.loads(out)
    text = script.read_text()
    assert parse_script(text) and "(--warm-up)" in text
    tags = _tags(text)
    assert len(tags) == 5 * len(passes)
    for i, p in enumerate(passes):
        mine = tags[5 * i:5 * i + 5]
        names = [r.split()[0] for _t, r in mine]
        assert names == ["opcode=SET_MODE", "opcode=SESSION_START", "opcode=SESSION_END",
                         "opcode=PARAM_SAVE", "opcode=SET_MODE"], names
        t = [x for x, _r in mine]
        # (onboard time: seconds since the epoch, 1970 by default)
        assert t[1] == pytest.approx(_unix(p["beacon_on"]) - plan.WARM_UP_LEAD_S, abs=0.1)
        assert t[2] == pytest.approx(_unix(p["set"]), abs=0.1) and t[3] > t[2]
    # an explicit lead wins over the warm-up's; past the APT's search: warned, in the script
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--hours", "12",
               "--script", str(script), "--warm-up", "--session-lead", "150"])
    _, err = capsys.readouterr()
    assert rc == 0 and "warning: --session-lead 150 s" in err and "apt_search_timeout_s" in err
    text = script.read_text()
    assert "# WARNING: a session lead of 150 s" in text
    assert "starts 150 s before the station's beacon" in text


def test_bore_scan_centres_the_scan_on_the_highest_passs_culmination(tmp_path, capsys):
    passes, text, err = _planned(tmp_path, capsys, 48, "--bore-scan")
    script = tmp_path / "pass.tc"
    high = [p["max_elevation_deg"] for p in passes if p["max_elevation_deg"] >= 45.0]
    assert high and len(high) < len(passes)  # the window has passes both sides of 45°
    best = max(range(len(passes)), key=lambda i: passes[i]["max_elevation_deg"])
    assert "pass %d (%.1f deg)" % (best + 1, passes[best]["max_elevation_deg"]) in err
    steps = parse_script(text)  # every line, the scan's arguments inside TIMETAG included
    from flight.cmddict import BY_NAME

    scans = [s for s in steps if s.kind == "send" and s.cmd.name == "TIMETAG"
             and s.args["opcode"] == BY_NAME["PA_BORE_SCAN"].opcode]
    assert len(scans) == 1 and scans[0].args["args"] == a_scan()
    tags = _tags(text)
    i = [k for k, (_t, r) in enumerate(tags) if "PA_BORE_SCAN" in r]
    assert len(i) == 1
    t_scan = tags[i[0]][0]
    a = a_scan()
    assert t_scan == pytest.approx(
        _unix(passes[best]["culmination"]) - 4 * a["dwell_s"] * a["cycles"], abs=0.1)
    # inside that pass's session: after its SESSION_START, before its SESSION_END
    before = [r.split()[0] for _t, r in tags[:i[0]]]
    after = [r.split()[0] for _t, r in tags[i[0] + 1:]]
    assert before.count("opcode=SESSION_START") == best + 1
    assert before.count("opcode=SESSION_END") == best and after[0] == "opcode=SESSION_END"
    assert '"step_urad": 20, "dwell_s": 1, "cycles": 8' in tags[i[0]][1]
    # a threshold no pass reaches: no scan, said on stderr and in the script
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--hours", "48",
               "--script", str(script), "--bore-scan", "89.5"])
    _, err = capsys.readouterr()
    assert rc == 0 and "no pass reaches 89.5 deg" in err
    assert "PA_BORE_SCAN" not in script.read_text().replace("# --bore-scan", "")
    assert "no pass reaches 89.5 deg" in script.read_text()
    # only with a script
    rc = main(["plan", "--tle", str(TLE), "--from", START, "--bore-scan"])
    _, err = capsys.readouterr()
    assert rc == 2 and "--bore-scan: only with --script" in err


def a_scan():
    return dict(plan.BORE_SCAN_ARGS)
