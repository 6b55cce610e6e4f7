"""``vector-tc plan --warm-up auto --db ARCHIVE``: does the unit need the warm-up on its
next pass?  Decided from what the gateway's archive (``vector-tc serve --db``) has heard
from the payload, so that a unit's first pass is not planned the usual way by mistake.

The warm-up (docs/calibration.md "A warm-up before the link") gives a unit its own k_T
before the link; a unit needs it until its V_br(T) line across sessions
(flight/bias_kt_line.py) is kept *and saved*.  In the archive, in its time order:

* the line kept: a ``BIAS_KNEE_LINE`` event with ``kept`` true and at least two knees, or a
  ``BIAS_KNEE_LINE_RESTART`` (its knees are the unit's line in the parameter table from
  then on);
* saved after it: a ``PARAMS_SAVED`` event (the payload's own word, whoever sent the
  ``PARAM_SAVE``);
* not lost since: no ``PARAMS_DEFAULTS`` / ``PARAMS_CORRUPT`` event (the store empty or
  damaged at a boot: defaults), no ``STORE_FALLBACK`` of the ``params`` store (an older
  copy, maybe from before the line) and no completed ``PARAM_LOAD_DEFAULTS`` command after
  the save.

Anything missing: the warm-up (it costs ~100 s of payload power; planning the usual way a
unit without its k_T costs up to ~24 mV RMS of over-voltage error).  The archive is read,
never written; one that does not exist, or is not an archive, is an error (a typo must not
read as "no line: warm-up" silently — the caller says so).
"""

import json
import os
import sqlite3
from pathlib import Path

from ground_tools import archive

LINE_KEPT_MIN_KNEES = 2  # a line's k_T needs two knees (flight/bias_kt_line.py)
_LOST = ("PARAMS_DEFAULTS", "PARAMS_CORRUPT")  # and STORE_FALLBACK of "params"


class ArchiveError(Exception):
    pass


def _open(path):
    if not os.path.isfile(path):
        raise ArchiveError("archive %s: no such file" % path)
    try:
        db = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)
        db.execute("SELECT t, kind, dir, ok, decoded FROM packets LIMIT 1").fetchall()
        db.execute("SELECT t, name, status, complete_t FROM commands LIMIT 1").fetchall()
        # (archive.connect would create an archive where there is none: opened read-only)
    except sqlite3.Error as e:
        raise ArchiveError("archive %s: not readable as an archive (%s)" % (path, e)) from None
    return db


def _line_kept(name, args):
    if name == "BIAS_KNEE_LINE_RESTART":
        return True
    if name != "BIAS_KNEE_LINE" or not isinstance(args, list) or len(args) < 2:
        return False
    knees, kept = args[0], args[1]
    return kept is True and isinstance(knees, int) and knees >= LINE_KEPT_MIN_KNEES


def decide(path):
    """(needs the warm-up, why) for the unit the archive at ``path`` has heard.  Raises
    :class:`ArchiveError` when the file is missing or not an archive."""
    db = _open(path)
    try:
        line_t = saved_t = lost = None
        for ev in archive.events(db):  # (ground times: ISO, ordered as they sort)
            t, name, args = ev["ground_time"], ev["name"], json.loads(ev["args"])
            if _line_kept(name, args):
                line_t, saved_t, lost = t, None, None
            elif name == "PARAMS_SAVED" and line_t is not None:
                saved_t, lost = t, None
            elif saved_t is not None and (name in _LOST or (
                    name == "STORE_FALLBACK" and args == ["params"])):
                lost = (t, name)
        if line_t is not None and saved_t is not None and lost is None:
            for c in archive.commands(db):
                if c["name"] == "PARAM_LOAD_DEFAULTS" and c["status"] == "completed" \
                        and c["completed"] > saved_t:
                    lost = (c["completed"], "PARAM_LOAD_DEFAULTS")
    finally:
        db.close()
    if line_t is None:
        return True, "no V_br(T) line kept in the archive (BIAS_KNEE_LINE kept): a first pass"
    if saved_t is None:
        return True, "the line kept at %s was not saved (no PARAMS_SAVED after it)" % line_t
    if lost is not None:
        return True, "the parameters saved at %s were lost since (%s at %s)" % (
            saved_t, lost[1], lost[0])
    return False, "the unit's line kept at %s, saved at %s" % (line_t, saved_t)

