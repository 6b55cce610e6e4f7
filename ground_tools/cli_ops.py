"""The operations subcommands of ``vector-tc``: ``serve`` (the link gateway with its
archive and web page), ``archive`` (queries) and the plan's (ground_tools/cli_plan.py) —
kept out of ``__main__`` so each file stays readable."""

import argparse
import json
import os
import sys

from ground_tools.cliutil import Fail, note
from ground_tools.link import EXIT_FAILED, EXIT_LINK, EXIT_OK


# ---------------------------------------------------------------------- list
def cmd_list(args):
    from flight import cmddict
    from ground_tools.commands import describe, find_command, parameter_table

    if args.params:
        from ground_tools.dictionary import rules

        rows = list(parameter_table().values())
        w = max(len(p["name"]) for p in rows)
        for p in rows:
            print("%-*s  %-5s  %s..%s %s  (default %s)  %s" % (
                w, p["name"], p["type"], p["min"], p["max"], p["unit"], p["default"],
                p["description"]))
        # Beyond each range: what combinations must satisfy (a PARAM_SET breaking one
        # is refused BAD_ARG "rule <name>: ...", nothing changed)
        print("\ncross-parameter rules (PARAM_SET refused: BAD_ARG \"rule <name>: ...\"):")
        for r in rules():
            print("  %s: %s  [%s]" % (r["name"], r["text"], ", ".join(r["params"])))
        return EXIT_OK
    cmds = cmddict.COMMANDS
    if args.name:
        try:
            cmds = [find_command(args.name)]
        except ValueError as e:
            raise Fail(str(e)) from None
    for c in cmds:
        print("%-22s 0x%02x  modes: %-22s %s" % (c.name, c.opcode, ",".join(c.modes),
                                                 c.description))
        for a in c.args:
            extra = []
            if not a.required:
                extra.append("optional" + ("" if a.default is None else
                                           ", default %s" % json.dumps(a.default)))
            print("    %-14s %-34s %s%s" % (a.name, describe(a), a.description,
                                            (" (%s)" % "; ".join(extra)) if extra else ""))
    return EXIT_OK


# ---------------------------------------------------------------------- decode
def cmd_decode(args):
    from ground_tools import wire
    from ground_tools.gateway import decode_tc
    from ground_tools.listen import tm_json

    try:
        with open(args.file, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Fail("cannot read %s: %s" % (args.file, e.strerror)) from None
    d = wire.TmDeframer()
    out = sys.stdout
    tcs = bad_tcs = 0
    frames = data.split(b"\x00")
    for i, frame in enumerate(frames):
        last = i == len(frames) - 1
        tc = decode_tc(frame) if frame else None
        if tc is not None:  # a telecommand (recorded uplink): decoded as one, not a bad TM
            tcs += 1
            bad_tcs += 0 if tc["ok"] else 1
            out.write(json.dumps(tc, sort_keys=True) + "\n")
            continue
        for item in d.feed(frame + (b"" if last else b"\x00")) + (
                d.feed(b"\x00") if last and d.pending() else []):
            if isinstance(item, wire.WireError):
                out.write(json.dumps({"error": item.reason, "detail": str(item)}) + "\n")
            else:
                out.write(json.dumps(tm_json(item), sort_keys=True) + "\n")
    note("%s: %d TM packet(s), %d TC(s), %d bad frame(s)%s" % (
        args.file, d.packets, tcs - bad_tcs, d.errors + bad_tcs,
        (" " + json.dumps(d.error_reasons)) if d.errors else ""))
    if d.packets + tcs - bad_tcs == 0:
        note("%s: no good packet" % args.file)
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------- dict
def cmd_dict(args):
    from ground_tools.dictionary import build_dictionary

    d = build_dictionary()
    if args.xtce:
        from ground_tools import safety, xtce

        try:
            with open(args.xtce, "w") as f:
                f.write(xtce.dumps(safety.annotate(json.loads(json.dumps(d, default=str)))))
        except OSError as e:
            raise Fail("cannot write %s: %s" % (args.xtce, e.strerror)) from None
        note("XTCE 1.2 -> %s" % args.xtce)
        if not args.out:
            return EXIT_OK
    text = json.dumps(d, indent=2)
    if args.out:
        try:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        except OSError as e:
            raise Fail("cannot write %s: %s" % (args.out, e.strerror)) from None
    else:
        print(text)
    return EXIT_OK


# ---------------------------------------------------------------------- capture-gen
def cmd_capture_gen(args):
    """A sample capture of the 50 Mbit/s link for operators to try capture-decode on."""
    import random

    from sim import packet as P

    rng = random.Random(args.seed)
    frames = [bytes(rng.getrandbits(8) for _ in range(P.FRAME_OCTETS))
              for _ in range(args.packets)]
    data = bytearray(P.build_stream(frames, first_serial=args.first))
    slot = P.PACKET_OCTETS + P.GAP_OCTETS
    for i in rng.sample(range(args.packets), min(args.corrupt, args.packets)):
        data[i * slot + P.PREAMBLE_OCTETS + 20] ^= 0x10  # one bit: a CRC error
    if args.manchester:
        data = bytes(P.bits_msb_first(P.manchester_encode(bytes(data))))
    try:
        with open(args.out, "wb") as f:
            f.write(data)
    except OSError as e:
        raise Fail("cannot write %s: %s" % (args.out, e.strerror)) from None
    note("%s: %d packet(s), serials %d..%d, %d with a bit error, %d octets%s" % (
        args.out, args.packets, args.first, args.first + args.packets - 1,
        min(args.corrupt, args.packets), len(data),
        " (Manchester chips)" if args.manchester else ""))
    return EXIT_OK


def add_capture_gen(sub):
    p = sub.add_parser("capture-gen", help="write a sample 50 Mbit/s link capture",
                       description="Write a synthetic capture of the optical link (random "
                       "frames) to try capture-decode on.")
    p.add_argument("out", help="output file")
    p.add_argument("--packets", type=int, default=100, help="number of packets (100)")
    p.add_argument("--first", type=int, default=5000, help="first serial number (5000)")
    p.add_argument("--corrupt", type=int, default=0, help="packets with one bit flipped")
    p.add_argument("--manchester", action="store_true", help="write Manchester chips, "
                   "one per octet, instead of octets")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(fn=cmd_capture_gen)


# ---------------------------------------------------------------------- serve
def _hostport(v):
    host, _, port = v.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("%r is not HOST:PORT (e.g. 127.0.0.1:8600)" % v)
    return host.strip("[]"), int(port)


def cmd_serve(args):
    import uvicorn

    from ground_tools import gateway, tmadapter, webapp, webguard
    from ground_tools.archive import Archive
    from ground_tools.link import LinkError
    from ground_tools.state import CounterStore, KeyLoadError, load_key

    host, port = args.http
    try:  # before anything is opened: a gateway that cannot be served safely never starts
        token, allowed = webguard.settings(host, args.token_file, args.allow_host or ())
    except webguard.GuardError as e:
        raise Fail(str(e)) from None
    if args.dict:
        try:
            with open(args.dict) as f:
                dictionary = json.load(f)
        except (OSError, ValueError) as e:
            raise Fail("cannot read dictionary %s: %s" % (args.dict, e)) from None
    else:
        dictionary = tmadapter.load_dictionary()
    try:
        key = load_key(args.key_file, args.key_id)
    except KeyLoadError as e:
        raise Fail(str(e)) from None
    for why in (key.warning, webguard.token_warning(args.token_file)):
        if why:
            note(why)
    from ground_tools.link import is_simulated_port

    if key.is_dev and not is_simulated_port(args.port) and not args.dev_key:
        key = None  # web commanding disabled on a real device without the payload's key
        note("no --key-file: the gateway forwards CLI commands but the web page cannot "
             "command (the development key is refused on a real device)")
    try:
        arch = Archive(args.db)
    except Exception as e:  # noqa: BLE001 - sqlite3 raises several types
        raise Fail("cannot open archive %s: %s" % (args.db, e)) from None
    try:
        gw = gateway.Gateway(args.port, args.baud, arch, dictionary, key,
                             CounterStore(args.state_file))
    except LinkError as e:
        arch.close()
        raise Fail(str(e), EXIT_LINK) from None
    url = "http://%s:%d" % (host if ":" not in host else "[%s]" % host, port)
    # The web port bound before the gateway announces itself: a second `serve` whose port
    # is taken must not replace (and, exiting, delete) the running gateway's state file.
    try:
        sock = _listen_socket(host, port)
    except OSError as e:
        gw.close()
        arch.close()
        raise Fail("cannot serve on %s: %s (another gateway running? `--http HOST:PORT`)"
                   % (url, e.strerror or e)) from None
    app = webapp.build_app(gw, token, allowed)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off", timeout_graceful_shutdown=3)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            gw.stopping = True  # live streams end, so the shutdown is not held up by them
            super().handle_exit(sig, frame)

    server = Server(config)
    state = gateway.announce(url, args.port, os.path.abspath(args.db))
    print("gateway: %s  port %s  archive %s  (state %s)%s" % (
        url, args.port, args.db, state, "  token required" if token else ""), flush=True)
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default
    # action that killed the process before the clean-up below (the state file left,
    # no summary): a handler of our own lets it run (a service stop exits 0).
    import signal

    signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    try:
        server.run(sockets=[sock])
    finally:
        gateway.withdraw()
        gw.close()
        arch.close()
        print("gateway stopped: %d packet(s) in, %d bad frame(s), %d TC(s) out, %d archived"
              "%s" % (gw.packets_in, gw.bad_frames, gw.tcs_out, arch.written,
                      "".join("; %d refused: %s" % (n, why)
                              for why, n in sorted(app.refused.items()))), flush=True)
    return EXIT_OK


def _listen_socket(host, port):
    """A TCP socket bound to ``host``:``port`` (OSError when it cannot be)."""
    import socket

    family, kind, proto, _name, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    return sock


# ---------------------------------------------------------------------- archive
def cmd_archive(args):
    from ground_tools import archive, plan

    if not os.path.exists(args.db):
        raise Fail("no archive %s" % args.db)
    try:
        t0 = plan.parse_time(args.start).timestamp() if args.start else None
        t1 = plan.parse_time(args.end).timestamp() if args.end else None
    except plan.PlanError as e:
        raise Fail(str(e)) from None
    db = archive.connect(args.db)
    try:
        if args.what == "packets":
            rows = archive.packets(db, args.apid, t0, t1)
        elif args.what == "params":
            names = set(args.name) if args.name else None
            rows = archive.params(db, args.apid, t0, t1, names)
        elif args.what == "events":
            rows = archive.events(db, t0, t1)
        else:
            rows = archive.commands(db, t0, t1)
        out = open(args.out, "w", newline="") if args.out else sys.stdout
        try:
            n = archive.write(rows, args.format, out)
        finally:
            if args.out:
                out.close()
    finally:
        db.close()
    note("%d row(s)" % n)
    return EXIT_OK


def add_parsers(sub, port_parent, keys_parent):
    from ground_tools import borefit, cli_plan, noise_design

    borefit.add_parser(sub)
    noise_design.add_parser(sub)
    cli_plan.add_parser(sub)

    p = sub.add_parser("serve",
                       help="the link gateway: owns the port, archives, serves clients",
                       description="Own the serial link: decode and archive every packet, "
                       "serve the web page and the CLI (send/listen/run --gateway URL).")
    p.add_argument("--port", required=True, help="pyserial URL of the payload link: "
                   "/dev/ttyUSB0, /dev/pts/N, socket://host:port, rfc2217://host:port")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    p.add_argument("--db", required=True, help="SQLite archive file (created if missing)")
    p.add_argument("--http", type=_hostport, default=("127.0.0.1", 8600),
                   metavar="HOST:PORT", help="HTTP address (default 127.0.0.1:8600)")
    p.add_argument("--dict", help="dictionary JSON (default: exported from flight/)")
    p.add_argument("--key-file", help="key for commands from the web page (default "
                   "$VECTOR_TC_KEY_FILE, else the development key on a simulated port)")
    p.add_argument("--key-id", type=int, help="key id of the file to sign with")
    p.add_argument("--state-file", help="counter state file (shared with the CLI)")
    p.add_argument("--dev-key", action="store_true",
                   help="allow the development key on a real device")
    p.add_argument("--token-file", help="every HTTP client must give this file's token "
                   "(default $VECTOR_TC_GATEWAY_TOKEN_FILE; required beyond 127.0.0.1)")
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="a Host name clients may use besides the loopback's and the "
                   "served address (repeatable)")
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("archive", help="query / export the gateway's archive")
    p.add_argument("--db", required=True, help="SQLite archive of `serve`")
    p.add_argument("what", choices=("packets", "params", "events", "commands"))
    p.add_argument("--apid", type=lambda v: int(v, 0), help="packets/params of this APID "
                   "(params default: housekeeping 0x0A1)")
    p.add_argument("--from", dest="start", help="from this ground time (ISO 8601 UTC)")
    p.add_argument("--to", dest="end", help="until this ground time (ISO 8601 UTC)")
    p.add_argument("--name", action="append", help="params: only this value (repeatable)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--out", help="write to FILE instead of stdout")
    p.set_defaults(fn=cmd_archive)

