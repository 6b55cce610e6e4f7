"""vector-tc — the Vector payload ground tool (also ``python -m ground_tools``).

Subcommands: list, encode, send, listen, decode, dict, run, capture-decode, resync.  See
docs/ground-tool.md.  Exit codes: 0 success, 1 internal error, 2 bad input (command line,
argument, key file, script, development key refused), 3 TC rejected, 4 TC completion
failed (or a script step's check failed), 5 timed out, 6 link error.
"""

import argparse
import json
import os
import sys

from flight.tm import APID_TC
from ground_tools.link import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_LINK,
    EXIT_OK,
)

from ground_tools.cliutil import PROG, Fail
from ground_tools.cliutil import err as _err
from ground_tools.cliutil import note as _note
from ground_tools.state import COUNTER_WINDOW
# The command's session with the payload (key, counters, link, one TC and its reports);
# also read from this module by resync (ground_tools/resync.py).
from ground_tools.cli_session import (_command, _gateway_url, _issue, _key, _link_exits,
                                      _note_outcome, _open, _preflight, _print_result,
                                      _store)


# ---------------------------------------------------------------------- argument types
def _counter_arg(v):
    n = int(v, 0)
    if not 0 <= n <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError("counter %s outside 0..4294967295" % v)
    return n


def _seq_arg(v):
    n = int(v, 0)
    if not 0 <= n <= 0x3FFF:
        raise argparse.ArgumentTypeError("sequence count %s outside 0..16383" % v)
    return n


def _apid_arg(v):
    n = int(v, 0)
    if not 0 <= n <= 0x7FF:
        raise argparse.ArgumentTypeError("APID %s outside 0..0x7ff" % v)
    return n


def _pos_float(v):
    x = float(v)
    if not x > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return x


# ---------------------------------------------------------------------- encode
def cmd_encode(args):
    from ground_tools import wire
    from ground_tools.state import StateError

    cmd, cargs = _command(args.cmd, args.args)
    if type(cargs.get("time")).__name__ == "Relative":
        raise Fail("TIMETAG time=+SECONDS needs the onboard time: use send or run")
    key = _key(args)
    try:
        counter, seq = _store(args).reserve(key, explicit=args.counter, seq=args.seq,
                                            apid=args.apid)
    except StateError as e:
        raise Fail(str(e)) from None
    pkt = wire.encode_tc(key.key, key.key_id, counter, cmd.opcode, cargs, seq=seq,
                         apid=args.apid)
    data = wire.frame(pkt) if args.framed else pkt
    if key.is_dev:
        _note("note: signed with the public DEVELOPMENT key (simulator/bench only)")
    if args.out:
        try:
            with open(args.out, "wb") as f:
                f.write(data)
        except OSError as e:
            raise Fail("cannot write %s: %s" % (args.out, e.strerror)) from None
        _note("%s: %d octets (counter %d, seq %d, key id %d) -> %s" % (
            cmd.name, len(data), counter, seq, key.key_id, args.out))
    else:
        print(data.hex())
    return EXIT_OK


# ---------------------------------------------------------------------- send
def cmd_send(args):
    cmd, cargs = _command(args.cmd, args.args)
    key = _key(args)
    store = _store(args)
    _preflight(args, store, key, [(cmd, cargs)])
    glink = _open(args, key, store)
    res = _issue(glink, cmd, cargs, args.timeout, counter=args.counter, seq=args.seq)
    if not args.json:
        print("%s seq=%d counter=%d key=%d -> %s" % (cmd.name, res.seq, res.counter, key.key_id,
                                                     args.port_label))
    if glink.timetag is not None and not args.json:
        print("  onboard time %.3f s: executes at %.3f s (in %.3f s)" % (
            glink.timetag[0], glink.timetag[1], glink.timetag[1] - glink.timetag[0]))
    _print_result(res, args.json)
    _note_outcome(res, args.timeout)
    if res.status == "rejected" and res.reason == "REPLAY" and args.counter is None:
        _note("the payload has accepted a higher counter (another tool or state file?); "
              "the state file now starts above it, so the next command goes through")
    return res.exit_code


# ---------------------------------------------------------------------- listen
def cmd_listen(args):
    from ground_tools.link import GroundLink, LinkError
    from ground_tools.listen import listen
    from ground_tools.state import Key

    nokey = Key(1, b"\0" * 32, "none")
    url = _gateway_url(args)
    try:
        if url:
            from ground_tools.gwclient import GatewayLink, client_name

            glink = GatewayLink(url, nokey, None, client=client_name())
        else:
            glink = GroundLink(args.port, nokey, None, baud=args.baud)
    except LinkError as e:
        raise Fail(str(e), EXIT_LINK) from None
    try:
        listen(glink, as_json=args.json, duration=args.duration, count=args.count,
               adcs_all=args.adcs)
    except LinkError as e:
        raise Fail(str(e), EXIT_LINK) from None
    except KeyboardInterrupt:
        return 130  # like send and run: interrupted by the operator
    finally:
        glink.close()
    return EXIT_OK


# ---------------------------------------------------------------------- run
def cmd_run(args):
    from ground_tools.script import Runner, ScriptError, StepFailed, parse_script

    try:
        with open(args.script) as f:
            text = f.read()
    except OSError as e:
        raise Fail("cannot read script %s: %s" % (args.script, e.strerror)) from None
    except UnicodeDecodeError:
        raise Fail("script %s is not text" % args.script) from None
    try:
        steps = parse_script(text)
    except ScriptError as e:
        errs = getattr(e, "errors", [e])
        for x in errs[:-1]:
            _err("%s:%d: %s" % (args.script, x.lineno, str(x).split(": ", 1)[1]))
        x = errs[-1]
        raise Fail("%s:%d: %s" % (args.script, x.lineno, str(x).split(": ", 1)[1])) from None
    key = _key(args)
    store = _store(args)
    _preflight(args, store, key, [(s.cmd, s.args) for s in steps if hasattr(s, "cmd")])
    glink = _open(args, key, store)
    with _link_exits(glink):
        try:
            n = Runner(glink, timeout=args.timeout, out=lambda s: print(s, flush=True),
                       counter=args.counter, seq=args.seq).run(steps)
        except StepFailed as e:
            _err("%s:%s" % (args.script, str(e)[len("line "):]))
            return e.code
    print("%s: %d step(s) passed" % (args.script, n))
    return EXIT_OK


# ---------------------------------------------------------------------- capture-decode
def cmd_capture_decode(args):
    from ground_tools.capture import decode_file, format_stats

    on_packet = None
    if args.packets:
        def on_packet(p):
            print(json.dumps(p, sort_keys=True))
    try:
        stats = decode_file(args.file, manchester=args.manchester, on_packet=on_packet)
    except OSError as e:
        raise Fail("cannot read %s: %s" % (args.file, e.strerror)) from None
    if args.manchester and stats.get("invalid_chips"):
        raise Fail("%s is not a Manchester chip capture: %d of %d octets are neither "
                   "0x00/0x01 nor '0'/'1' text (an octet capture? drop --manchester)" % (
                       args.file, stats["invalid_chips"], stats["input_bytes"]))
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    else:
        print(format_stats(stats))
    if not stats["packets_ok"]:
        _note("%s: no good packet found" % args.file)
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------- parser
def _safety_options(p):
    p.add_argument("--yes", action="store_true", help="send hazardous commands (REBOOT, "
                   "KEY_ROTATE, PARAM_LOAD_DEFAULTS, SET_MODE SESSION, ...) without asking")
    p.add_argument("--force", action="store_true", help="send a --counter the state file "
                   "already used, or one more than the payload's anti-replay window (%d) "
                   "above the last one used" % COUNTER_WINDOW)


def build_parser():
    ap = argparse.ArgumentParser(
        prog=PROG, description="Ground tool of the Vector payload: encode and send "
        "telecommands, decode telemetry and link captures.",
        epilog="exit codes: 0 ok, 1 internal error, 2 bad input, 3 TC rejected, "
        "4 completion failed, 5 timed out, 6 link error, 130 interrupted (Ctrl-C)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = argparse.ArgumentParser(add_help=False)
    g = keys.add_argument_group("authentication")
    g.add_argument("--key-file", help="key file, '<key_id> <64 hex>' per line "
                   "(default $VECTOR_TC_KEY_FILE, else the public development key)")
    g.add_argument("--key-id", type=int, help="key id of the file to sign with "
                   "(default: the lowest)")
    g.add_argument("--counter", type=_counter_arg,
                   help="anti-replay counter (default: next from the state file)")
    g.add_argument("--state-file", help="counter state file (default $VECTOR_TC_STATE, "
                   "else ~/.vector-tc/counters.json)")
    g.add_argument("--apid", type=_apid_arg, default=APID_TC,
                   help="TC APID (default 0x%03X)" % APID_TC)
    g.add_argument("--seq", type=_seq_arg, help="CCSDS sequence count (default: next from "
                   "the state file)")

    port = argparse.ArgumentParser(add_help=False)
    g = port.add_argument_group("link")
    g.add_argument("--port", help="pyserial URL: /dev/ttyUSB0, /dev/pts/N, "
                   "socket://host:port, rfc2217://host:port, loop://")
    g.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    g.add_argument("--gateway", metavar="URL", help="talk through a running `vector-tc serve` "
                   "(http://127.0.0.1:8600); default: $VECTOR_TC_GATEWAY, or the gateway that "
                   "announced itself for --port")

    from ground_tools import cli_ops

    p = sub.add_parser("list", help="commands with arguments, types, units, ranges, modes")
    p.add_argument("name", nargs="?", help="one command only")
    p.add_argument("--params", action="store_true", help="list the parameters instead")
    p.set_defaults(fn=cli_ops.cmd_list)

    p = sub.add_parser("encode", parents=[keys], help="one authenticated TC packet")
    p.add_argument("cmd", metavar="CMD")
    p.add_argument("args", nargs="*", metavar="NAME=VALUE")
    o = p.add_mutually_exclusive_group()
    o.add_argument("--hex", action="store_true", help="print hex (the default)")
    o.add_argument("--out", help="write the octets to FILE")
    p.add_argument("--framed", action="store_true", help="COBS-frame it, 0x00-terminated")
    p.add_argument("--force", action="store_true", help="encode a --counter the state file "
                   "already used, or one beyond the payload's anti-replay window (%d) above "
                   "the last one used" % COUNTER_WINDOW)
    p.set_defaults(fn=cmd_encode, takes_assignments=True)

    p = sub.add_parser("send", parents=[keys, port],
                       help="send a TC and wait for its verification reports")
    p.add_argument("cmd", metavar="CMD")
    p.add_argument("args", nargs="*", metavar="NAME=VALUE")
    p.add_argument("--timeout", type=_pos_float, default=10.0,
                   help="seconds to wait for both reports (default 10)")
    p.add_argument("--dev-key", action="store_true",
                   help="allow the public development key on a real device")
    p.add_argument("--json", action="store_true", help="print the reports as JSON lines")
    _safety_options(p)
    p.set_defaults(fn=cmd_send, takes_assignments=True)

    p = sub.add_parser("listen", parents=[port], help="live telemetry")
    p.add_argument("--json", action="store_true", help="one JSON object per packet")
    p.add_argument("--duration", type=_pos_float, help="stop after S seconds")
    p.add_argument("--count", type=int, help="stop after N packets")
    p.add_argument("--adcs", action="store_true",
                   help="every ADCS packet at full precision (default: a summary every "
                        "10 s, newest values in the live table)")
    p.set_defaults(fn=cmd_listen)

    p = sub.add_parser("decode", help="TM capture (COBS stream) -> JSON lines")
    p.add_argument("file")
    p.set_defaults(fn=cli_ops.cmd_decode)

    p = sub.add_parser("dict", help="command and telemetry dictionaries as JSON")
    p.add_argument("--out", help="write to FILE instead of stdout")
    p.add_argument("--xtce", metavar="FILE", help="write the dictionary as XTCE 1.2 "
                   "(for Yamcs and other ground systems) to FILE")
    p.set_defaults(fn=cli_ops.cmd_dict)

    p = sub.add_parser("run", parents=[keys, port], help="run a command sequence file")
    p.add_argument("script")
    p.add_argument("--timeout", type=_pos_float, default=10.0,
                   help="seconds to wait for each TC's reports (default 10)")
    p.add_argument("--dev-key", action="store_true",
                   help="allow the public development key on a real device")
    _safety_options(p)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("capture-decode", help="50 Mbit/s link capture -> packets, statistics")
    p.add_argument("file")
    p.add_argument("--manchester", action="store_true",
                   help="the file holds Manchester chips, one per octet (0/1)")
    p.add_argument("--json", action="store_true", help="statistics as one JSON object")
    p.add_argument("--packets", action="store_true", help="also one JSON line per packet")
    p.set_defaults(fn=cmd_capture_decode)
    cli_ops.add_capture_gen(sub)

    cli_ops.add_parsers(sub, port, keys)
    from ground_tools import resync

    resync.add_parser(sub, port, keys, sys.modules[__name__])
    return ap


def main(argv=None):
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    if extra:
        # NAME=VALUE arguments may follow options: `send PARAM_SET --port P name=x value=1`.
        if getattr(args, "takes_assignments", False) and all(
                "=" in x and not x.startswith("-") for x in extra):
            args.args = list(args.args) + extra
        else:
            ap.error("unrecognized arguments: %s" % " ".join(extra))
    try:
        return args.fn(args)
    except Fail as e:
        _err(str(e))
        return e.code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # never a traceback for the operator
        if os.environ.get("VECTOR_TC_DEBUG"):
            raise
        _err("internal error: %s: %s (set VECTOR_TC_DEBUG=1 for the traceback)" % (
            type(e).__name__, e))
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
