"""HTTP side of the gateway (Starlette, served by uvicorn).

=====================  =====================================================================
``GET /``              the operator page (``ground_tools/web/``)
``GET /api/status``    link state, counters, newest packet of each kind, recent events
``GET /api/dictionary`` the exported dictionary the gateway decodes with
``GET /api/stream``    server-sent events: ``tm`` / ``tc`` (id = packet id), ``cmd``, ``link``;
                       ``?after=ID`` (or ``Last-Event-ID``) resumes after packet ID, also
                       across a gateway restart (older packets come from the archive)
``POST /api/tc``       ``{"packet": hex, "client"}``: forward a TC signed by the client
``POST /api/command``  ``{"name", "args": {name: text}, "confirm", "client"}``: checked with
                       the CLI's own argument rules, hazardous ones need ``confirm``, signed by
                       the gateway
``GET /api/commands``  the command history (newest last; ``?n=N``, 1..500)
=====================  =====================================================================

Every request passes :class:`ground_tools.webguard.Guard` first (the Host, the token, a
foreign page's requests); a malformed query or body is a 400 that says what was expected.
"""

import asyncio
import json
import os

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ground_tools import archive as _archive
from ground_tools import gateway as _gateway
from ground_tools import link, safety, webguard

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
_KEEPALIVE_S = 5.0


def _sse(etype, payload, pid=None):
    head = ("id: %d\n" % pid) if pid is not None else ""
    return "%sevent: %s\ndata: %s\n\n" % (head, etype, json.dumps(payload, default=str))


def _int_query(name, v, default, lo, hi):
    """Query parameter ``name``'s text ``v`` as an integer within lo..hi (``default`` when
    absent); ValueError (a 400) otherwise."""
    if v in (None, ""):
        return default
    if not v.strip().lstrip("-").isdigit() or not lo <= int(v) <= hi:
        raise ValueError("%s=%s: expected an integer %d..%d" % (name, v, lo, hi))
    return int(v)


def _bad(e):
    return JSONResponse({"error": str(e)}, status_code=400)


def build_app(gw, token=None, allowed_hosts=None):
    """The gateway's ASGI app behind its guard (``token``, ``allowed_hosts``:
    :func:`ground_tools.webguard.settings`)."""
    async def index(request):
        return FileResponse(os.path.join(WEB, "index.html"))

    async def status(request):
        return JSONResponse({"link": gw.link_status(), "latest": gw.latest,
                             "events": list(gw.recent_events)[-50:]})

    annotated = safety.annotate(gw.dictionary)

    async def dictionary(request):
        return JSONResponse(annotated)

    async def commands(request):
        try:
            n = _int_query("n", request.query_params.get("n"), 100, 1, 500)
        except ValueError as e:
            return _bad(e)
        return JSONResponse(list(gw.cmds.values())[-n:])

    def _backlog(after):
        """Archived packets newer than ``after`` that the live ring no longer holds."""
        first = gw.first_packet_id()
        if first is not None and first <= after + 1:
            return []
        gw.archive.flush(5)
        db = _archive.connect(gw.archive.path)
        try:
            rows = list(db.execute(
                "SELECT id, t, dir, apid, seq, kind, ok, error, raw, decoded FROM packets "
                "WHERE id > ? AND (? IS NULL OR id < ?) ORDER BY id LIMIT 5000",
                (after, first, first)))
        finally:
            db.close()
        out = []
        for r in rows:
            dec = json.loads(r[9]) if r[9] else {}
            out.append(("tm" if r[2] == "tm" else "tc", gw.packet_event({
                "id": r[0], "t": r[1], "dir": r[2], "apid": r[3], "seq": r[4], "kind": r[5],
                "ok": bool(r[6]), "error": r[7], "raw": r[8], "decoded": dec or {}}), r[0]))
        return out

    async def stream(request):
        q = request.query_params
        after = q.get("after") or request.headers.get("last-event-id")
        kinds = set(filter(None, (q.get("kinds") or "").split(",")))
        pos = gw.head()
        backlog = []
        if after not in (None, ""):
            try:
                after = _int_query("after", after, 0, 0, 2 ** 63 - 1)
            except ValueError as e:
                return _bad(e)
            backlog = await run_in_threadpool(_backlog, after)
            pos = 0  # the ring's packets newer than `after` come next, in order
        else:
            after = None

        start = gw.head()

        def wanted(n, etype, payload, pid):
            if pid is None:
                return n > start  # command / link updates: only those after connecting
            if after is not None and pid <= after:
                return False
            return not (kinds and payload.get("kind") not in kinds)

        async def gen():
            nonlocal pos
            yield ": vector-tc gateway\n\n"
            yield _sse("link", gw.link_status())
            for etype, payload, pid in backlog:
                if wanted(0, etype, payload, pid):
                    yield _sse(etype, payload, pid)
            idle = 0.0
            while True:
                items = gw.since(pos)
                if items:
                    idle = 0.0
                    for n, etype, pid, payload in items:
                        pos = n
                        if wanted(n, etype, payload, pid):
                            yield _sse(etype, payload, pid)
                    continue
                if gw.stopping or await request.is_disconnected():
                    return
                await asyncio.sleep(0.05)
                idle += 0.05
                if idle >= _KEEPALIVE_S:
                    idle = 0.0
                    yield ": keepalive\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    async def post_tc(request):
        try:
            body = await request.json()
            pkt = bytes.fromhex(body["packet"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {\"packet\": hex}"}, status_code=400)
        why = _gateway.tc_packet_problem(pkt)
        if why:
            return _bad("not forwarded: " + why)
        # The history names what the packet carries: a client's claim only when it agrees
        name, args = _gateway.tc_command(pkt)
        if body.get("name") == name and isinstance(body.get("args"), dict):
            args = body["args"]
        try:
            rec = await run_in_threadpool(gw.send_packet, pkt, _client(body.get("client")),
                                          name, args)
        except link.LinkError as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        return JSONResponse(rec)

    async def post_command(request):
        try:
            body = await request.json()
            name = str(body["name"])
            raw = body.get("args") or {}
            if not isinstance(raw, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected {\"name\", \"args\": {...}}"},
                                status_code=400)
        items = ["%s=%s" % (k, v if isinstance(v, str) else json.dumps(v))
                 for k, v in raw.items() if v not in (None, "")]
        try:
            cmd, args = safety.checked_command(name, items)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        why = safety.hazard(cmd, args)
        if why and not body.get("confirm"):
            return JSONResponse({"error": "%s is hazardous (%s): confirm to send" % (
                cmd.name, why), "hazardous": True}, status_code=409)
        try:
            rec = await run_in_threadpool(gw.send_command, cmd, args,
                                          _client(body.get("client")) or "web")
        except link.LinkError as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        return JSONResponse(rec)

    routes = [
        Route("/", index),
        Route("/api/status", status),
        Route("/api/dictionary", dictionary),
        Route("/api/stream", stream),
        Route("/api/commands", commands),
        Route("/api/tc", post_tc, methods=["POST"]),
        Route("/api/command", post_command, methods=["POST"]),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ]
    return webguard.Guard(Starlette(routes=routes), token, allowed_hosts)


def _client(v):
    """Who sent it, for the history: text, at most 80 characters."""
    return ("" if v is None else str(v))[:80]
