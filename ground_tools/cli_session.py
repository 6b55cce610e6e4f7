"""A ``vector-tc`` command's session with the payload: its key, its counter store, the
command parsed from NAME=VALUE words, the safety preflight, the development-key refusal,
the link (through a gateway or straight to the port), and one TC issued and its reports
printed.  Shared by send, run, listen (ground_tools/__main__.py) and resync
(ground_tools/resync.py); every failure is a :class:`ground_tools.cliutil.Fail` with the
tool's exit code.
"""

import json
import os
from contextlib import contextmanager

from ground_tools.cliutil import Fail
from ground_tools.cliutil import note as _note
from ground_tools.link import EXIT_LINK


def _key(args):
    from ground_tools.state import KeyLoadError, load_key

    try:
        key = load_key(args.key_file, args.key_id)
    except KeyLoadError as e:
        raise Fail(str(e)) from None
    if key.warning:
        _note(key.warning)
    return key


def _store(args):
    from ground_tools.state import CounterStore

    return CounterStore(args.state_file, force=getattr(args, "force", False))


def _command(name, items):
    from ground_tools.commands import ArgError, parse_command

    try:
        return parse_command(name, items)
    except ArgError as e:
        raise Fail(str(e)) from None


def _preflight(args, store, key, cmds):
    from ground_tools import safety

    try:
        safety.preflight(args, store, key, cmds)
    except ValueError as e:
        raise Fail(str(e)) from None


def _check_dev_key(key, port, allow):
    from ground_tools.link import is_simulated_port

    if not key.is_dev or is_simulated_port(port):
        return None
    if not allow:
        raise Fail("refusing the public DEVELOPMENT key on a real device (%s): give "
                   "--key-file with the payload's key, or --dev-key for a bench board "
                   "provisioned with it" % port)
    return "warning: using the public DEVELOPMENT key on %s (--dev-key)" % port


def _gateway_url(args):
    """The gateway to use: --gateway, $VECTOR_TC_GATEWAY, or the one `serve` announced
    (when no --port is given, or it owns the --port given); None for a direct port."""
    from ground_tools import gateway

    url = getattr(args, "gateway", None) or os.environ.get("VECTOR_TC_GATEWAY")
    if url:
        return url
    url = gateway.discover(args.port)
    if url:
        _note("using the gateway %s that owns %s" % (url, args.port or "the link"))
        return url
    if args.port is None:
        raise Fail("give --port URL (serial device or pyserial URL) or --gateway URL "
                   "(no running gateway found)")
    return None


def _open(args, key, store):
    from ground_tools.link import GroundLink, LinkError

    url = _gateway_url(args)
    if url:
        from ground_tools.gwclient import GatewayLink, client_name

        gw_port = None
        try:
            glink = GatewayLink(url, key, store, apid=args.apid, client=client_name())
            gw_port = glink.gw_status["link"]["port"]
        except LinkError as e:
            raise Fail(str(e), EXIT_LINK) from None
        warning = _check_dev_key(key, gw_port, getattr(args, "dev_key", False))
        args.port_label = "%s (%s)" % (url, gw_port)
    else:
        from ground_tools.link import check_port

        try:  # a bad port is a port error, before any key question
            check_port(args.port)
        except LinkError as e:
            raise Fail(str(e), EXIT_LINK) from None
        # the development key is refused before a real device is even opened
        warning = _check_dev_key(key, args.port, getattr(args, "dev_key", False))
        try:
            glink = GroundLink(args.port, key, store, baud=args.baud, apid=args.apid)
        except LinkError as e:
            raise Fail(str(e), EXIT_LINK) from None
        args.port_label = args.port
    if warning:
        _note(warning)
    from ground_tools.safety import audit_log

    glink.audit = audit_log(args.port_label)
    return glink


# ---------------------------------------------------------------------- one TC
def _print_result(res, as_json):
    from ground_tools import wire

    if as_json:
        for r in res.reports():
            print(json.dumps(wire.jsonable(r), sort_keys=True))
        return
    for r in res.reports():
        ok = r.get("ok")
        line = "  %-9s %s" % (r.get("stage"), "ok" if ok else "FAILED %s" % r.get("reason"))
        if r.get("detail"):
            line += "  %s" % r["detail"]
        elif not ok and r.get("result") is not None:  # the payload's explanation
            line += "  %s" % (r["result"] if isinstance(r["result"], str) else json.dumps(
                wire.jsonable(r["result"]), sort_keys=True))
        if ok and r.get("result") is not None:
            line += "  result: %s" % json.dumps(wire.jsonable(r["result"]), sort_keys=True)
        print(line)


@contextmanager
def _link_exits(glink):
    """Around a TC exchange on ``glink``: the counter-state and link errors as the
    tool's exits (2, 6); the link closed after (shared by send, run and resync)."""
    from ground_tools.link import LinkError
    from ground_tools.state import StateError

    try:
        yield glink
    except StateError as e:
        raise Fail(str(e)) from None
    except LinkError as e:
        raise Fail(str(e), EXIT_LINK) from None
    finally:
        glink.close()


def _issue(glink, cmd, cargs, timeout, counter=None, seq=None):
    """Send one command over ``glink`` and wait for its reports (shared by send and
    resync); errors as the tool's exits.  Closes the link."""
    with _link_exits(glink):
        return glink.command(cmd, cargs, timeout=timeout, counter=counter, seq=seq)


def _note_outcome(res, timeout):
    """The operator's note for a command that did not complete (shared by send and
    resync): a rejection, a failed execution or a missing report."""
    if res.status == "rejected":
        _note("TC rejected: %s" % res.reason)
    elif res.status == "failed":
        _note("TC accepted but its execution failed: %s" % res.reason)
    elif res.status == "timeout":
        _note("no %s report within %g s" % ("acceptance" if res.accept is None else
                                             "completion", timeout))
