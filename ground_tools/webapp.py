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
``GET /api/commands``  the command history (newest last)
=====================  =====================================================================
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
from ground_tools import link, safety

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
_KEEPALIVE_S = 5.0


def _sse(etype, payload, pid=None):
    head = ("id: %d\n" % pid) if pid is not None else ""
    return "%sevent: %s\ndata: %s\n\n" % (head, etype, json.dumps(payload, default=str))


def build_app(gw):
    async def index(request):
        return FileResponse(os.path.join(WEB, "index.html"))

    async def status(request):
        return JSONResponse({"link": gw.link_status(), "latest": gw.latest,
                             "events": list(gw.recent_events)[-50:]})

    annotated = safety.annotate(gw.dictionary)

    async def dictionary(request):
        return JSONResponse(annotated)

    async def commands(request):
        return JSONResponse(list(gw.cmds.values())[-int(request.query_params.get("n", 100)):])

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
            after = int(after)
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
        try:
            rec = await run_in_threadpool(gw.send_packet, pkt, str(body.get("client", "")),
                                          body.get("name"), body.get("args"))
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
                                          str(body.get("client") or "web"))
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
    return Starlette(routes=routes)
