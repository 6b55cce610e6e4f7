"""The design lives in the repository (DESIGN = docs/design.md).

A clone has nothing outside itself: no document or comment may send a reader to a file
outside the repository, and every "DESIGN §n" citation must name a section that
docs/design.md has.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
SCANNED = ("README.md", "docs", "flight", "hal", "sim", "ground_tools", "board", "tests",
           "bench", "tools")
SKIP_PARTS = {"node_modules", "__pycache__", ".venv", ".typings"}
# Paths that leave the repository: the old design/paper copies beside the checkout, and
# absolute paths of a development machine.
OUTSIDE = re.compile(r"\.\./shared/(?!micropython)|shared/DESIGN\.md|shared/reference|/work/|/home/\w")
CITATION = re.compile(r"DESIGN §(\d+(?:\.\d+)?)")


def _files():
    for top in SCANNED:
        p = ROOT / top
        if p.is_file():
            yield p
            continue
        for f in sorted(p.rglob("*")):
            if f.suffix in (".py", ".md") and not SKIP_PARTS.intersection(f.parts):
                yield f


def _sections():
    heads = set()
    for line in DESIGN.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#{2,3} (\d+(?:\.\d+)?)\.? ", line)
        if m:
            heads.add(m.group(1))
    return heads


def test_design_document_exists_and_readme_points_at_it():
    assert DESIGN.is_file()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/design.md" in readme


def test_no_document_or_comment_names_a_path_outside_the_repository():
    me = Path(__file__).resolve()
    bad = []
    for f in _files():
        if f.resolve() == me:
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append("%s:%d: %s" % (f.relative_to(ROOT), n, line.strip()))
    assert not bad, "paths outside the repository:\n" + "\n".join(bad)


def test_every_design_citation_resolves_to_a_section():
    heads = _sections()
    assert {"1", "2", "3.1", "3.7", "5", "7"} <= heads
    bad = []
    for f in _files():
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for sec in CITATION.findall(line):
                if sec not in heads:
                    bad.append("%s:%d: DESIGN §%s" % (f.relative_to(ROOT), n, sec))
    assert not bad, "citations of sections docs/design.md does not have:\n" + "\n".join(bad)
