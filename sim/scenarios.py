"""Simulator scenarios: pure data (MicroPython-clean), read by hal/sim/world.py and the pass
simulator (sim/run/passsim.py).

Times are seconds of simulated time from the payload's boot.  The nominal timeline: the
OBC commands STANDBY at 1 s and SESSION_START at ``session_start_s`` = 5 s; the satellite
rises through 20° at ``pass_start_s`` = 20.5 s on the zenith pass (a lower pass later: its
beacon comes on at the same time after the session start, the operator's plan); the ground
beacon and uplink come on at 18° elevation; the pass ends (20° setting) at ``pass_start_s``
+ 327.4 s (zenith); the OBC ends the session 5 s later.  Fault entries are ``(t, kind, arg)``; see
``World._apply_fault``.
"""

NOMINAL = {
    "max_elevation_deg": 90.0,  # zenith pass (paper §3.2, DESIGN §5)
    "weather": "clear",  # kappa = 0.92 dB per air mass (paper §3.2)
    "coarse_error_deg": None,  # None: DESIGN §5 reference, 1.5 deg
    "adcs_feedback": True,
    "session_start_s": 5.0,
    # None: planned (sim/geometry.py planned_rise_s): the zenith pass rises through 20°
    # at 20 s; a lower one later, so its beacon comes on as long after the session's start.
    "pass_start_s": None,
    # Assumed: the OGS acquires the satellite and switches its beacon and uplink on at 18 deg,
    # a few seconds after the payload's session started (2.9 s: 17.6 deg at 5 s on the
    # zenith pass; as long on every planned pass, ``pass_start_s`` None).
    "beacon_min_el_deg": 18.0,
    # None: the plan's 2.9 s from the session's start to the beacon (above); seconds: that
    # long (`vector-tc plan --session-lead`: a warm-up before the link, docs/calibration.md).
    "session_lead_s": None,
    "end_margin_s": 5.0,
    "faults": [],
}

SCENARIOS = {
    "nominal": {},
    # Paper §3.2: passes with lower maximum elevation are shorter and longer-range.
    "low-pass": {"max_elevation_deg": 45.0},
    # Paper §3.2: worst weather, kappa = 1.64 dB per air mass (Table 1 "fog").
    "fog": {"weather": "fog"},
    # Harder thermal case: +25 K power-on rise with a 45 s time constant, -15 K eclipse.
    "thermal-stress": {"thermal": {"heat_rise_k": 25.0, "tau_heat_s": 45.0,
                                   "eclipse_delta_k": -15.0, "tau_eclipse_s": 120.0}},
    # DESIGN §3.3 / issue 5: a 5 s beacon loss in mid-pass.
    "beacon-dropout": {"faults": [(120.0, "beacon_off", 5.0)]},
    # DESIGN §3.4: primary sensor stuck, then NaN on both for a while, then recovered.
    "sensor-fault": {"faults": [(60.0, "temp_fault", (0, "stuck")),
                                (100.0, "temp_fault", (1, "nan")),
                                (104.0, "temp_fault", (1, None)),
                                (140.0, "temp_fault", (0, None))]},
    # Issue 12 finding 10: the primary sensor drifts +0.25 K/s from 60 s on (a failing
    # part): the cross-check must exclude it within seconds.
    "sensor-drift": {"faults": [(60.0, "temp_fault", (0, "drift", 0.25))]},
    # The payload computer resets in mid-pass; the OBC restarts the session.
    "reboot-mid-pass": {"faults": [(150.0, "reset")]},
    # Issue 13: structured background in the camera's field of view (sim/background.py).
    "city-lights": {"background": "city"},
    "sunlit-ground": {"background": "sunlit"},
}


def names():
    return sorted(SCENARIOS)


def get(name):
    """The full scenario dict (nominal values overridden by the named scenario)."""
    if name not in SCENARIOS:
        raise KeyError(name)
    sc = dict(NOMINAL)
    for k, v in SCENARIOS[name].items():
        sc[k] = v
    sc["name"] = name
    sc["faults"] = list(sc.get("faults", []))
    return sc
