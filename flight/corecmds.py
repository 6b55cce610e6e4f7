"""The core's own commands (owner ``"core"``): liveness, time, event-log dump,
diagnostic housekeeping, reboot and key rotation.  Each handler has the one signature
``cmd_x(self, args, tc)`` and works on the flight application's parts."""

from flight.cmddict import BadArg, CmdFailed
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.tc import EV_KEY_ROTATED
from flight.tm import APID_EVENT
from hal.compat import const

VERSION = "0.2.0"  # the flight software's version (PING, the BOOT event)

# The core's events raised by its commands (range 0x0_ of the core; the app's
# flight/app.py EVENTS include these, so the "core" component declares them).
EV_REBOOT_REQUESTED = const(0x02)
EV_TIME_SET = const(0x03)

EVENTS = (
    Event(EV_REBOOT_REQUESTED, "REBOOT_REQUESTED", SEV_WARN, "reboot requested by TC"),
    Event(EV_TIME_SET, "TIME_SET", SEV_INFO, "onboard time set", (("time", "float"),)),
)


class CoreCommands:
    def __init__(self, app):
        self.app = app

    def check_command(self, cmd, args):
        if cmd.name == "KEY_ROTATE":
            why = self.app.keyring.check_rotate(args["key_id"])  # key ids only go up
            if why:
                raise BadArg(why)

    def cmd_ping(self, args, tc):
        return {"uptime": self.app.uptime_s(), "version": VERSION}

    def cmd_set_time(self, args, tc):
        app = self.app
        app.time_offset = args["time"] - app.uptime_s()
        app.emit(EV_TIME_SET, [args["time"]], "")
        return None

    def cmd_event_log_dump(self, args, tc):
        app = self.app
        log = app.events.persistent_log()
        sent = 0
        for e in log[-args["max"]:] if log else []:
            e["dump"] = True
            if app.tm.send(APID_EVENT, e):
                sent += 1
        return {"entries": sent, "total": len(log)}

    def cmd_hk_diag_request(self, args, tc):
        # Sent by the tc task after this TC's completion report, like the events a
        # command raises (a ground script waits for telemetry after the report).
        self.app.diag_requested = True
        return {"octets": self.app.hk_diag_packer.size}

    def cmd_reboot(self, args, tc):
        app = self.app
        app.reboot_requested = True
        app.emit(EV_REBOOT_REQUESTED, None, "reboot by TC")
        app.timetags.drop("reboot by TC")
        return None

    def cmd_key_rotate(self, args, tc):
        app = self.app
        kid = args["key_id"]
        why = app.keyring.check_rotate(kid)
        if why:  # (the acceptance checked it: the keyring changed since)
            raise CmdFailed("BAD_ARG", why)
        ks = app.keyring
        old = ks.active
        errors = ks.mirror.errors  # (rotate's floor write, if it fails, counts one)
        try:  # retires every lower id for ever, persisted in the key store (keystore.py)
            mirrored = ks.rotate(kid)
        except Exception as e:
            app.timetags.drop_keys_below(kid)
            app.storage_error("key store", e)
            if ks.mirror.dev is None or ks.mirror.errors != errors:
                # Neither the record nor the floor: the next boot reads the old record
                # with the old floor, and key `old` is active again.  Said so (it said
                # "lower ids retired"): the ground rotates again after that boot.
                app.emit(EV_KEY_ROTATED, [kid], "active key id %d until the next boot only: "
                         "neither the key store nor the key floor saved" % kid)
                raise CmdFailed("STORAGE", "key id %d active until the next boot only: "
                                "neither the key store nor the key floor was saved, a reboot "
                                "brings back key id %d: %r" % (kid, old, e))
            # The rotation is in force (RAM and the floor): said as it is, so the ground
            # switches to the new key; the next boot applies the floor to the old record.
            app.emit(EV_KEY_ROTATED, [kid], "active key id %d; the key store NOT saved" % kid)
            raise CmdFailed("STORAGE", "key id %d active, lower ids retired, but the key store "
                            "was not saved: %r" % (kid, e))
        app.emit(EV_KEY_ROTATED, [kid], "active key id %d%s" % (
            kid, "" if mirrored else "; the key floor not in the backup registers"))
        app.timetags.drop_keys_below(kid)  # nothing queued under a retired key runs
        return {"key_id": kid}
