"""Guest scripts' own bookkeeping bound before their baseline (issue 11's heap figures).

A bench script sent to the target measures the flight's heap as what is live above a
baseline taken before the flight is imported.  The script's own globals dict and its
result dict grow as it runs; a rehash of either after the baseline (hundreds of octets)
would be counted as flight memory.  :func:`presize` writes lines, placed just before the
baseline, that bind every global the script binds first after it and every result key it
writes after it, to None, so both tables reach their final size before the baseline.
"""

import ast
import re

BASELINE = "base = live()\n"  # the script's baseline: what is live before the flight
PRESIZE = "#PRESIZE\n"  # where presize() puts its lines (before BASELINE)


def _globals_bound(code):
    """Names the top level of ``code`` binds (compound statements entered, function and
    class bodies not: their names are their frames')."""
    names = set()
    stack = list(ast.parse(code).body)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
            continue
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        stack.extend(ast.iter_child_nodes(n))
    return names


def presize(body, anchor=BASELINE):
    """Lines binding, before the baseline (``anchor``), every global the script binds
    first after it, to None, and every result key written in its main flow: the
    script's globals dict and ``R`` reach their final size before the baseline, so that
    neither grows (a rehash: hundreds of octets) inside the flight's figures."""
    head, _, tail = body.replace(PRESIZE, "").partition(anchor)
    names = sorted(_globals_bound(anchor + tail) - _globals_bound(head))
    # (flight_live(key, ...) writes its key too: the target bench's heap figures)
    keys = sorted(set(re.findall(r"(?:out\(|R\[|flight_live\()'(\w+)'", tail))
                  - set(re.findall(r"'(\w+)'", head)))  # (not the keys R starts with)
    keys = [k for k in keys if not k.startswith(("trace_", "prof"))]  # (--trace, --profile)
    return "%s = None\nfor _k in %r:\n    R[_k] = None\n" % (" = ".join(names), tuple(keys))
