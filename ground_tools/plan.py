"""``vector-tc plan``: the next passes of the satellite over the optical ground station.

SGP4 through skyfield (``EarthSatellite.find_events``) with skyfield's *builtin* timescale:
the UT1/delta-T tables ship inside the package, so nothing is downloaded and no planetary
ephemeris is needed (a pass is pure geometry: satellite vs. the station on the WGS84
ellipsoid).  ``find_events`` brackets the crossings to about half a second; each crossing
is then bisected, and each culmination golden-section searched, to a few milliseconds, so
the printed times are limited by the orbit model, not by the search.

A pass is reported when its elevation exceeds ``min_el`` (default 20°: the session
threshold of the paper, below which the link budget does not close); ``rise`` and ``set``
are the crossings of ``min_el``, not of the horizon; ``beacon_on`` the earlier crossing of
``beacon_el`` (default 18°), where the station switches its beacon and uplink on.  The
session script starts the session ``session_lead_s`` (2.9 s) before that, on every pass:
the payload's breakdown sweep then starts in the dark (docs/calibration.md), and the
uplink finds the comparator ready — a session started at the 20° rise found the uplink
on already, and the sweep with it cost the link ~1.5 s.
"""

import datetime as _dt
import math

# The paper's optical ground station (Zvenigorod): 55°41′56″N 36°45′32″E, 180 m.
OGS = (55 + 41 / 60 + 56 / 3600, 36 + 45 / 60 + 32 / 3600, 180.0)
DEFAULT_MIN_EL = 20.0
# The station switches its beacon and uplink on at this elevation (assumed; the simulator's
# sim/scenarios.py ``beacon_min_el_deg``).
DEFAULT_BEACON_EL = 18.0
# SESSION_START before the beacon comes on: the simulator's zenith pass (session at 5 s, 18°
# at 7.9 s): the bias ramp (1.07-1.57 s at its slew limit, by the phase of the 500 ms bias
# updates, since stop 54: up to 1.95 s before) and the breakdown sweep's first second in
# the dark.  2.4 s until stop 44, which
# held only where the ramp took two steps within milliseconds (docs/apt-loop.md §5).
DEFAULT_SESSION_LEAD_S = 2.9
# --warm-up (docs/calibration.md "A warm-up before the link"): the session started this long
# before the beacon, the payload warms ~10 K in the dark (its power-on heating, ~90 s time
# constant) and reads a dark knee every 3 K of it (flight/bias_kt_due.py): the unit's k_T
# before the link; PARAM_SAVE after the session keeps it.
WARM_UP_LEAD_S = 100.0
# The APT ends a session that finds no beacon after ``apt_search_timeout_s`` (flight/apt.py);
# a longer session lead needs that parameter raised first.  Margin for the acquisition:
SEARCH_MARGIN_S = 5.0
# --dark-knee (docs/calibration.md "The k_T line across sessions"): the breakdown sweep
# commanded this long after the station's uplink goes off (its set crossing of the beacon
# elevation: the light gone from the receiver, the framer's last windows over), and the
# session ended this long after the command: the sweep (~1.2 s), its hindsight 1-1.5 s
# later (flight/bias_kt.py) and a margin; PARAM_SAVE this long after the session's end.
DARK_KNEE_AFTER_UPLINK_S = 1.0
DARK_KNEE_SESSION_S = 5.0
DARK_KNEE_SAVE_AFTER_S = 1.0
# --bore-scan (docs/point-ahead.md "Step 3"): the transmitter boresight scan with the
# procedure's default arguments (a 20 µrad step, -0.8 dB while it lasts; 1 s dwells; 8
# cycles of 8 dwells: 64 s), centred on the culmination of the highest pass of the window
# at or above this elevation ("away from the lowest elevations": the station's power log is
# the measurement, and a long air path scatters it more; assumed, 45°).
BORE_SCAN_ARGS = {"step_urad": 20.0, "dwell_s": 1.0, "cycles": 8}
BORE_SCAN_MIN_EL = 45.0
_TOL_S = 0.005  # refinement tolerance of the crossing / culmination times
_DAY_S = 86400.0


def search_limit_s():
    """The longest session lead the payload's default APT search allows (s)."""
    from flight import apt
    from flight.params import P_DEFAULT, P_NAME

    timeout = [d[P_DEFAULT] for d in apt.PARAMS if d[P_NAME] == "apt_search_timeout_s"][0]
    return timeout - SEARCH_MARGIN_S


class PlanError(ValueError):
    """Bad TLE, station or time: one line for the operator."""


def parse_station(text):
    """``LAT,LON,ALT`` (degrees north, degrees east, metres) → (lat, lon, alt)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (2, 3):
        raise PlanError("station %r: expected LAT,LON[,ALT] (degrees, degrees, metres)" % text)
    try:
        lat, lon = float(parts[0]), float(parts[1])
        alt = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError:
        raise PlanError("station %r: not numbers" % text) from None
    if not -90 <= lat <= 90 or not -180 <= lon <= 360 or not -500 <= alt <= 9000:
        raise PlanError("station %r: latitude -90..90, longitude -180..360, altitude "
                        "-500..9000 m" % text)
    return lat, lon, alt


def parse_time(text):
    """ISO 8601 (``2026-12-02T10:00:00Z``; no zone means UTC) or ``now`` → aware datetime."""
    if text is None or str(text).strip().lower() == "now":
        return _dt.datetime.now(_dt.timezone.utc)
    t = str(text).strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    try:
        d = _dt.datetime.fromisoformat(t)
    except ValueError:
        raise PlanError("time %r: expected ISO 8601, e.g. 2026-12-02T10:00:00Z" % text) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.astimezone(_dt.timezone.utc)


def read_tle(path):
    """(name, line1, line2) from a 2- or 3-line TLE file (the first satellite in it)."""
    try:
        with open(path) as f:
            lines = [ln.rstrip() for ln in f if ln.strip()]
    except OSError as e:
        raise PlanError("cannot read TLE %s: %s" % (path, e.strerror)) from None
    except UnicodeDecodeError:
        raise PlanError("TLE %s is not text" % path) from None
    for i, ln in enumerate(lines):
        if ln.startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            name = lines[i - 1].strip() if i > 0 and lines[i - 1][:2] not in ("1 ", "2 ") \
                else "satellite"
            l1, l2 = lines[i], lines[i + 1]
            for ln2 in (l1, l2):
                if len(ln2) < 69 or not _checksum_ok(ln2):
                    raise PlanError("TLE %s: line %r has a bad length or checksum" % (
                        path, ln2[:20] + "..."))
            return name, l1, l2
    raise PlanError("TLE %s: no pair of lines starting '1 ' and '2 '" % path)


def _checksum_ok(line):
    s = sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68])
    return s % 10 == int(line[68])


def _iso(t):
    """skyfield Time → ISO 8601 UTC with milliseconds."""
    d = t.utc_datetime()
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


class Planner:
    def __init__(self, tle_path, station=OGS, min_el=DEFAULT_MIN_EL,
                 beacon_el=DEFAULT_BEACON_EL):
        from skyfield.api import EarthSatellite, load, wgs84

        self.ts = load.timescale(builtin=True)  # no download: tables ship with skyfield
        self.name, l1, l2 = read_tle(tle_path)
        try:
            self.sat = EarthSatellite(l1, l2, self.name, self.ts)
        except (ValueError, IndexError) as e:
            raise PlanError("TLE %s: %s" % (tle_path, e)) from None
        self.station = station
        self.min_el = float(min_el)
        self.beacon_el = min(float(beacon_el), self.min_el)
        lat, lon, alt = station
        self.topos = wgs84.latlon(lat, lon, elevation_m=alt)
        self._diff = self.sat - self.topos

    def elevation(self, t):
        """Elevation in degrees of the satellite at skyfield Time(s) ``t``."""
        alt, _, _ = self._diff.at(t).altaz()
        return alt.degrees

    def _at(self, tt):
        return self.ts.tt_jd(tt)

    def _refine_crossing(self, tt, rising, el=None, before_s=2.0):
        """Bisect the crossing of ``el`` (default ``min_el``) within ``before_s`` before
        and 2 s after TT Julian date ``tt``."""
        el = self.min_el if el is None else el
        a, b = tt - before_s / _DAY_S, tt + 2 / _DAY_S
        fa = self.elevation(self._at(a)) - el
        fb = self.elevation(self._at(b)) - el
        if fa * fb > 0:
            return tt  # bracket lost (grazing pass): keep skyfield's estimate
        while (b - a) * _DAY_S > _TOL_S:
            m = (a + b) / 2
            fm = self.elevation(self._at(m)) - el
            if (fm < 0) == (fa < 0):
                a, fa = m, fm
            else:
                b = m
        return (a + b) / 2

    def _refine_max(self, tt):
        """Golden-section search of the elevation maximum within ±5 s of ``tt``."""
        g = (math.sqrt(5) - 1) / 2
        a, b = tt - 5 / _DAY_S, tt + 5 / _DAY_S
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = self.elevation(self._at(c)), self.elevation(self._at(d))
        while (b - a) * _DAY_S > _TOL_S:
            if fc > fd:
                b, d, fd = d, c, fc
                c = b - g * (b - a)
                fc = self.elevation(self._at(c))
            else:
                a, c, fc = c, d, fd
                d = a + g * (b - a)
                fd = self.elevation(self._at(d))
        m = (a + b) / 2
        return m, float(self.elevation(self._at(m)))

    def passes(self, start, hours=24.0):
        """Passes above ``min_el`` between ``start`` (aware datetime) and ``hours`` later.

        Each: {"rise", "culmination", "set" (ISO 8601 UTC), "max_elevation_deg",
        "duration_s", and the datetimes under "_rise"/"_set"/"_culmination"}.  A pass
        already in progress at ``start`` is left out (its rise is not in the window).
        """
        t0 = self.ts.from_datetime(start)
        t1 = self.ts.from_datetime(start + _dt.timedelta(hours=hours))
        times, kinds = self.sat.find_events(self.topos, t0, t1, altitude_degrees=self.min_el)
        out = []
        cur = None
        for t, k in zip(times, kinds, strict=True):
            k = int(k)
            if k == 0:
                cur = {"rise": self._refine_crossing(t.tt, True), "culm": []}
            elif k == 1 and cur is not None:
                cur["culm"].append(self._refine_max(t.tt))
            elif k == 2 and cur is not None:
                if cur["culm"]:
                    tt_set = self._refine_crossing(t.tt, False)
                    tc, el = max(cur["culm"], key=lambda x: x[1])
                    out.append(self._row(cur["rise"], tc, tt_set, el))
                cur = None
        return out

    def _row(self, tr, tc, ts_, el):
        r, c, s = self._at(tr), self._at(tc), self._at(ts_)
        # The beacon's crossings: the satellite climbs 2° within ~1-2 minutes of the rise,
        # and sinks as much after the set (the uplink goes off there).
        low = self.beacon_el < self.min_el
        b = self._at(self._refine_crossing(tr, True, self.beacon_el, 300.0) if low else tr)
        bo = self._at(self._refine_crossing(ts_ + 300.0 / _DAY_S, False, self.beacon_el, 302.0)
                      if low else ts_)
        return {"rise": _iso(r), "culmination": _iso(c), "set": _iso(s),
                "max_elevation_deg": round(el, 3),
                "duration_s": round((ts_ - tr) * _DAY_S, 1), "beacon_on": _iso(b),
                "beacon_off": _iso(bo),
                "_rise": r.utc_datetime(), "_culmination": c.utc_datetime(),
                "_set": s.utc_datetime(), "_beacon_on": b.utc_datetime(),
                "_beacon_off": bo.utc_datetime()}


def public(p):
    """A pass without the private datetime entries (for JSON)."""
    return {k: v for k, v in p.items() if not k.startswith("_")}


def format_passes(passes, name, station, min_el):
    lines = ["%s over %.5f, %.5f, %.0f m, above %g deg elevation:" % (
        name, station[0], station[1], station[2], min_el)]
    if not passes:
        lines.append("  no pass in the window")
    for p in passes:
        lines.append("  rise %s  culmination %s  %6.2f deg  set %s  (%4.0f s)" % (
            p["rise"], p["culmination"], p["max_elevation_deg"], p["set"], p["duration_s"]))
    return "\n".join(lines)


def bore_scan_pass(passes, min_el=BORE_SCAN_MIN_EL):
    """The index of the pass for the boresight scan: the highest at or above ``min_el``
    (the first of equals), or None."""
    best = None
    for i, p in enumerate(passes):
        if p["max_elevation_deg"] >= min_el and (
                best is None or p["max_elevation_deg"] > passes[best]["max_elevation_deg"]):
            best = i
    return best


def bore_scan_lines(p, onboard):
    """The script lines of a boresight scan centred on pass ``p``'s culmination."""
    from ground_tools.borefit import schedule

    a = BORE_SCAN_ARGS
    length_s = schedule(0.0, a["step_urad"], a["dwell_s"], a["cycles"])[-1][1]  # its end
    t = p["_culmination"] - _dt.timedelta(seconds=length_s / 2.0)
    log = [(t + _dt.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")
           for s in (-10.0, length_s + 10.0)]  # (10 s of margin: the TRACK it may wait for)
    return [
        "# boresight scan (--bore-scan; docs/point-ahead.md \"Step 3\"): log the station's "
        "850 nm power (t_s,power_w, >= 100 Hz) from %s to %s; PA_BORE_SCAN_STARTED gives "
        "t0 for vector-tc bore-fit" % (log[0], log[1]),
        "send TIMETAG time=%s opcode=PA_BORE_SCAN args='{\"step_urad\": %g, \"dwell_s\": "
        "%g, \"cycles\": %d}'" % (onboard(t), a["step_urad"], a["dwell_s"], a["cycles"])]


def session_script(passes, name, epoch, lead_s=120.0, min_el=DEFAULT_MIN_EL,
                   session_lead_s=DEFAULT_SESSION_LEAD_S, dark_knee=False, save=False,
                   notes=(), bore_scan=None):
    """A ``vector-tc run`` script queuing each pass as time-tagged commands.

    Onboard time is seconds since ``epoch`` (aware datetime; the clock is set with
    SET_TIME before the pass).  Per pass: SET_MODE STANDBY ``lead_s`` before the session
    (the payload powers up and the bias settles before the link can close), SESSION_START
    ``session_lead_s`` before the station's beacon and uplink come on (``beacon_on``; the
    module's doc says why), SESSION_END at the ``min_el`` set, SET_MODE SAFE ``lead_s``
    later.  ``dark_knee``: the session kept past the uplink's end (``beacon_off``) for a
    breakdown sweep in the dark, BIAS_KNEE_CALIBRATE :data:`DARK_KNEE_AFTER_UPLINK_S`
    after it, SESSION_END :data:`DARK_KNEE_SESSION_S` after that, then PARAM_SAVE: the
    pass's warm knee joins the unit's V_br(T) line (docs/calibration.md).  ``save``: PARAM_SAVE
    after each session (``--warm-up``: the k_T its pre-link knees gave kept).  ``notes``:
    comment lines for the script's head (why it was planned so).  ``bore_scan``: the index
    of the pass that scans the transmitter boresight (:func:`bore_scan_pass`), its
    PA_BORE_SCAN centred on the culmination (it waits for TRACK if sent before).
    """
    def onboard(d):
        return "%.1f" % (d - epoch).total_seconds()

    lines = ["# pass plan for %s generated by vector-tc plan" % name,
             "# onboard time = seconds since %s (sync it with SET_TIME first)"
             % epoch.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "# rise/set are the %g deg elevation crossings; each session starts %g s "
             "before the station's beacon and uplink come on" % (min_el, session_lead_s),
             "send PING"]
    for n in reversed(notes):
        lines.insert(3, "# " + n)
    if dark_knee:
        lines.insert(3, "# each session kept past the uplink's end for a dark breakdown sweep, "
                     "then PARAM_SAVE (--dark-knee)")
    elif save:
        lines.insert(3, "# PARAM_SAVE after each session: the unit's k_T from the warm-up's "
                     "dark knees kept (--warm-up)")
    if session_lead_s > search_limit_s():
        lines.insert(3, "# WARNING: a session lead of %g s outlasts the APT's search "
                     "(apt_search_timeout_s): PARAM_SET it above the lead first" % session_lead_s)
    for i, p in enumerate(passes):
        start = p["_beacon_on"] - _dt.timedelta(seconds=session_lead_s)
        up = start - _dt.timedelta(seconds=lead_s)
        end = p["_set"]
        knee = []
        if dark_knee:
            t_knee = p["_beacon_off"] + _dt.timedelta(seconds=DARK_KNEE_AFTER_UPLINK_S)
            end = t_knee + _dt.timedelta(seconds=DARK_KNEE_SESSION_S)
            knee = ["send TIMETAG time=%s opcode=BIAS_KNEE_CALIBRATE" % onboard(t_knee)]
        down = max(p["_set"] + _dt.timedelta(seconds=lead_s),
                   end + _dt.timedelta(seconds=DARK_KNEE_SAVE_AFTER_S + 1.0))
        lines += [
            "",
            "# pass %d: beacon on %s, rise %s, culmination %s at %.2f deg, set %s" % (
                i + 1, p["beacon_on"], p["rise"], p["culmination"],
                p["max_elevation_deg"], p["set"]),
            "send TIMETAG time=%s opcode=SET_MODE args='{\"mode\": \"STANDBY\"}'" % onboard(up),
            "send TIMETAG time=%s opcode=SESSION_START" % onboard(start),
        ] + (bore_scan_lines(p, onboard) if i == bore_scan else []) + knee + [
            "send TIMETAG time=%s opcode=SESSION_END" % onboard(end)]
        if dark_knee or save:
            lines.append("send TIMETAG time=%s opcode=PARAM_SAVE" % onboard(
                end + _dt.timedelta(seconds=DARK_KNEE_SAVE_AFTER_S)))
        lines.append("send TIMETAG time=%s opcode=SET_MODE args='{\"mode\": \"SAFE\"}'"
                     % onboard(down))
    lines.append("echo %d pass(es) queued" % len(passes))
    return "\n".join(lines) + "\n"
