"""The packet archive of the gateway: SQLite, write-ahead log, one transaction per batch.

Every TM packet the gateway deframes and every TC it sends is a row of ``packets``: raw
octets, ground time (UTC seconds), APID, sequence count, kind, ``ok`` and the decoded
values as JSON.  A frame that does not decode (bad COBS, CRC, header, unknown APID) is
stored raw with ``ok = 0`` and the error text, never dropped.  ``commands`` is the command
history (who sent what when, and the verification outcome, updated as the reports
arrive).  Packet ids are assigned by the gateway (``stamp``) so they are stable event ids
for live clients and keep increasing across gateway restarts.

Durability: WAL journal with ``synchronous=NORMAL`` survives a crash of the gateway
process at every committed batch; the writer commits at least every ``flush_s`` seconds and
on close.
"""

import csv
import datetime as _dt
import json
import queue
import sqlite3
import threading
import time
from flight.tm import APID_HK

SCHEMA = """
CREATE TABLE IF NOT EXISTS packets (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, dir TEXT NOT NULL, apid INTEGER, seq INTEGER,
    kind TEXT, ok INTEGER NOT NULL, error TEXT, raw BLOB NOT NULL, decoded TEXT);
CREATE INDEX IF NOT EXISTS packets_t ON packets (t);
CREATE INDEX IF NOT EXISTS packets_apid_t ON packets (apid, t);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, client TEXT, name TEXT, args TEXT,
    apid INTEGER, seq INTEGER, counter INTEGER, key_id INTEGER, packet_id INTEGER,
    status TEXT NOT NULL, accept_t REAL, accept_reason TEXT, complete_t REAL,
    complete_reason TEXT, detail TEXT, result TEXT);
CREATE INDEX IF NOT EXISTS commands_seq ON commands (apid, seq);
"""


def iso(t):
    d = _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def connect(path):
    db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    db.commit()
    return db


class Archive:
    """Writer: ``add_packet``/``add_command``/``update_command`` queue, a thread commits."""

    def __init__(self, path, flush_s=0.2, batch=500):
        self.path = str(path)
        self.db = connect(self.path)
        row = self.db.execute("SELECT max(id) FROM packets").fetchone()
        self._next = (row[0] or 0) + 1
        row = self.db.execute("SELECT max(id) FROM commands").fetchone()
        self._next_cmd = (row[0] or 0) + 1
        self._ids = threading.Lock()
        self.flush_s = flush_s
        self.batch = batch
        self._q = queue.Queue()
        self.written = 0
        self.batches = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="archive", daemon=True)
        self._thread.start()

    def stamp(self):
        """(packet id, time): taken together, so the archive's time order is its id order
        whatever the threads (TM reader, TC senders) interleave."""
        with self._ids:
            n = self._next
            self._next += 1
            return n, time.time()

    def next_command_id(self):
        with self._ids:
            n = self._next_cmd
            self._next_cmd += 1
            return n

    def add_packet(self, rec):
        """rec: {id, t, dir, apid, seq, kind, ok, error, raw (bytes), decoded (map)}."""
        self._q.put(("p", rec))

    def add_command(self, rec):
        self._q.put(("c", rec))

    def update_command(self, cid, changes):
        self._q.put(("u", (cid, changes)))

    def _apply(self, cur, op, rec):
        if op == "p":
            cur.execute(
                "INSERT INTO packets (id, t, dir, apid, seq, kind, ok, error, raw, decoded) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rec["id"], rec["t"], rec["dir"], rec.get("apid"), rec.get("seq"),
                 rec.get("kind"), 1 if rec.get("ok") else 0, rec.get("error"),
                 bytes(rec["raw"]), json.dumps(rec.get("decoded"), sort_keys=True)))
        elif op == "c":
            cur.execute(
                "INSERT INTO commands (id, t, client, name, args, apid, seq, counter, key_id, "
                "packet_id, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (rec["id"], rec["t"], rec.get("client"), rec.get("name"),
                 json.dumps(rec.get("args"), sort_keys=True), rec.get("apid"), rec.get("seq"),
                 rec.get("counter"), rec.get("key_id"), rec.get("packet_id"),
                 rec.get("status", "sent")))
        else:
            cid, ch = rec
            cols = sorted(ch)
            vals = [json.dumps(ch[c]) if c == "result" else ch[c] for c in cols]
            cur.execute("UPDATE commands SET %s WHERE id = ?" % ", ".join(
                "%s = ?" % c for c in cols), vals + [cid])

    def _run(self):
        while True:
            try:
                items = [self._q.get(timeout=self.flush_s)]
            except queue.Empty:
                if self._stop:
                    return
                continue
            while len(items) < self.batch:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            marks = [rec for op, rec in items if op == "f"]
            with self.db:  # one transaction per batch
                cur = self.db.cursor()
                for op, rec in items:
                    if op != "f":
                        self._apply(cur, op, rec)
            for m in marks:
                m.set()
            self.written += sum(1 for op, _ in items if op == "p")
            self.batches += 1

    def flush(self, timeout=10.0):
        """Wait until everything queued so far is committed; False on timeout."""
        done = threading.Event()
        self._q.put(("f", done))
        return done.wait(timeout)

    def close(self):
        self.flush(30)
        self._stop = True
        self._thread.join(30)
        self.db.close()


# ---------------------------------------------------------------------- queries
def _where(apid=None, t0=None, t1=None, kind=None, dir_=None):
    w, a = [], []
    if apid is not None:
        w.append("apid = ?")
        a.append(apid)
    if kind is not None:
        w.append("kind = ?")
        a.append(kind)
    if dir_ is not None:
        w.append("dir = ?")
        a.append(dir_)
    if t0 is not None:
        w.append("t >= ?")
        a.append(t0)
    if t1 is not None:
        w.append("t < ?")
        a.append(t1)
    return (" WHERE " + " AND ".join(w)) if w else "", a


def packets(db, apid=None, t0=None, t1=None, limit=None):
    w, a = _where(apid, t0, t1)
    q = "SELECT id, t, dir, apid, seq, kind, ok, error, raw, decoded FROM packets%s ORDER BY id" % w
    if limit:
        q += " LIMIT %d" % int(limit)
    for r in db.execute(q, a):
        dec = json.loads(r[9]) if r[9] else None
        yield {"id": r[0], "time": iso(r[1]), "t": r[1], "dir": r[2], "apid": r[3],
               "seq": r[4], "kind": r[5], "ok": bool(r[6]), "error": r[7], "raw": r[8].hex(),
               "fields": (dec or {}).get("fields")}


def params(db, apid=None, t0=None, t1=None, names=None):
    """Housekeeping (or ``apid``'s) values over time: one row per packet, one column each."""
    w, a = _where(apid if apid is not None else APID_HK, t0, t1, dir_="tm")
    w += " AND ok = 1"
    for r in db.execute("SELECT id, t, decoded FROM packets%s ORDER BY id" % w, a):
        f = (json.loads(r[2]) or {}).get("fields") or {}
        if names:
            f = {k: v for k, v in f.items() if k in names}
        row = {"ground_time": iso(r[1]), "packet_id": r[0]}
        row.update(f)
        yield row


def events(db, t0=None, t1=None):
    w, a = _where(None, t0, t1, kind="event", dir_="tm")
    for r in db.execute("SELECT id, t, decoded, ok FROM packets%s ORDER BY id" % w, a):
        b = (json.loads(r[2]) or {}).get("body") or {}
        yield {"ground_time": iso(r[1]), "packet_id": r[0], "onboard_time": b.get("time"),
               "severity": b.get("severity"), "id": b.get("id"), "name": b.get("name"),
               "text": b.get("text"), "args": json.dumps(b.get("args"))}


def commands(db, t0=None, t1=None):
    w, a = _where(None, t0, t1)
    for r in db.execute(
            "SELECT id, t, client, name, args, apid, seq, counter, key_id, status, accept_t, "
            "accept_reason, complete_t, complete_reason, detail, result FROM commands%s "
            "ORDER BY id" % w, a):
        yield {"id": r[0], "time": iso(r[1]), "client": r[2], "name": r[3], "args": r[4],
               "apid": r[5], "seq": r[6], "counter": r[7], "key_id": r[8], "status": r[9],
               "accepted": iso(r[10]) if r[10] else None, "accept_reason": r[11],
               "completed": iso(r[12]) if r[12] else None, "complete_reason": r[13],
               "detail": r[14], "result": r[15]}


def write(rows, fmt, out):
    """Rows (maps) as CSV (header = union of keys, first-seen order) or JSON lines."""
    rows = list(rows)
    if fmt == "jsonl":
        for r in rows:
            out.write(json.dumps(r, sort_keys=False) + "\n")
        return len(rows)
    cols = []
    seen = set()
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    w = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                    for k, v in r.items()})
    return len(rows)
