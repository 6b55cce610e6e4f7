"""``vector-tc resync``: the operator procedure after the payload lost its anti-replay
state (docs/security.md, "RESYNC"), as one command.

1. Read the nonce the payload publishes in housekeeping (``replay_nonce``, non-zero only
   in RESYNC) — or take ``--nonce`` from a COUNTER_RESYNC_NEEDED event seen elsewhere.
2. Choose the floor: at least the highest counter this ground station ever used with the
   key (the counter state file), or ``--floor`` if higher (another station's counters).
3. Send ``COUNTER_RESYNC nonce=N floor=F`` with the next counter, wait for both reports,
   and raise the state file to the mark the payload reports, so the next TC goes above it.

Exit codes as ``send``; 0 with a note when the payload is not in RESYNC (nothing to do).
"""

from ground_tools.cliutil import Fail, note
from ground_tools.link import EXIT_LINK, EXIT_OK


def cmd_resync(args, cli):
    """``cli``: the ground tool's command-line module (ground_tools/__main__.py), whose
    key, counter-store, link and report helpers this command shares; passed in by
    :func:`add_parser` so that this module does not import it back (no import cycle)."""
    from ground_tools import wire
    from ground_tools.link import LinkError
    from ground_tools.state import MAX_COUNTER

    cmd, _ = cli._command("COUNTER_RESYNC", ["nonce=1", "floor=0"])
    key = cli._key(args)
    store = cli._store(args)
    glink = cli._open(args, key, store)
    try:
        nonce = args.nonce
        if nonce is None:
            tm = glink.wait_for(lambda t: t.apid == wire.APID_HK, args.timeout, consume=False)
            if tm is None:
                raise Fail("no housekeeping within %g s: cannot read replay_nonce (give "
                           "--nonce from COUNTER_RESYNC_NEEDED)" % args.timeout, EXIT_LINK)
            nonce = tm.body.get("replay_nonce")
            if not nonce:
                glink.close()
                note("replay_nonce is 0: the payload's anti-replay mark is current, no "
                     "resync needed")
                return EXIT_OK
        floor = max(store.last(key), args.floor or 0)
        if floor >= MAX_COUNTER:
            raise Fail("floor %d leaves no counter: rotate to a new key" % floor)
    except LinkError as e:
        glink.close()
        raise Fail(str(e), EXIT_LINK) from None
    except BaseException:
        glink.close()
        raise
    # send's error handling and notes (ground_tools/__main__.py), shared
    res = cli._issue(glink, cmd, {"nonce": int(nonce), "floor": floor}, args.timeout)
    print("COUNTER_RESYNC nonce=%d floor=%d seq=%d counter=%d key=%d -> %s" % (
        nonce, floor, res.seq, res.counter, key.key_id, args.port_label))
    cli._print_result(res, False)
    cli._note_outcome(res, args.timeout)
    if res.status == "completed":
        result = (res.complete or {}).get("result") or {}
        mark = result.get("mark", floor) if isinstance(result, dict) else floor
        store.raise_to(key, mark)
        print("anti-replay mark of key %d: %d; the next TC uses counter %d" % (
            key.key_id, mark, store.last(key) + 1))
    elif res.status == "rejected" and res.reason == "BAD_ARG":
        note("the nonce changed (a reboot draws a new one): run resync again")
    return res.exit_code


def add_parser(sub, port_parent, keys_parent, cli):
    p = sub.add_parser("resync", parents=[keys_parent, port_parent],
                       help="resynchronise the payload's anti-replay mark after it lost its "
                       "state (reads the nonce from housekeeping, sends COUNTER_RESYNC)")
    p.add_argument("--nonce", type=lambda v: int(v, 0),
                   help="the nonce (default: replay_nonce of the next housekeeping packet)")
    p.add_argument("--floor", type=lambda v: int(v, 0), default=0,
                   help="new mark at least this (default: the highest counter of the state "
                   "file)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for housekeeping and for each report (default 10)")
    p.add_argument("--dev-key", action="store_true",
                   help="allow the public development key on a real device")
    p.set_defaults(fn=lambda args: cmd_resync(args, cli))
