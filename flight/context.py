"""The narrow context a payload module gets from the flight application.

A module needs five things from the rest of the flight software and sees nothing else
(it is tested with a fake of this class: no FlightApp needed):

* ``params``: the parameters, read as ``ctx.params["name"]`` (set only through
  ``ctx.params.set(name, value)`` where a module owns a learned value);
* ``emit(ev_id, args=None, detail="")``: raise one of its declared events (severity
  comes from the declaration);
* ``now()``: onboard time, seconds (float);
* ``request_mode(mode, cause)``: ask for a mode change; None, or the refusal text;
* ``send_adcs(values)``: pointing feedback to the platform ADCS (APID 0x0A4; the map's
  keys are the module's declared ``ADCS`` fields).
"""


class Context:
    def __init__(self, params, emit, now, request_mode, send_adcs):
        self.params = params
        self.emit = emit
        self.now = now
        self.request_mode = request_mode
        self.send_adcs = send_adcs
