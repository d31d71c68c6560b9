"""Checks of the documentation: the README stays a first screen (at most 12 KB), every relative link in README.md
and docs/*.md resolves to a file of the repository (and `file.md#anchor` to a heading of that file, by GitHub's
anchor rule), and one config path is used everywhere."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCUMENTS = [README, *sorted((REPO / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024

LINK = re.compile(r"!?\[(?:[^\]]|\][^(])*?\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_SOURCE = re.compile(r"""<(?:img|a)\b[^>]*?\b(?:src|href)="([^"]+)\"""")


def prose(text: str) -> str:
    """The text outside fenced code blocks, where links and headings are not links and headings."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return "\n".join(kept)


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: its text (links by their text, no emphasis or code marks) in lower case,
    every character but letters, digits, spaces, hyphens and underscores dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+?)#*$", prose(path.read_text()), flags=re.M):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def links(path: Path) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", prose(path.read_text()))  # code spans are not links
    return LINK.findall(text) + HTML_SOURCE.findall(text)


def test_github_anchor_rule():
    assert github_anchor("The live page and /api/v1/summary") == "the-live-page-and-apiv1summary"
    assert github_anchor("Worked example: the paper's Table 3") == "worked-example-the-papers-table-3"
    assert github_anchor("FootprintCO2eBudgetExhausted") == "footprintco2ebudgetexhausted"
    assert github_anchor("8. Workloads (the next wave)") == "8-workloads-the-next-wave"


def test_readme_is_a_first_screen():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/ (limit {README_LIMIT})"


def test_readme_links_every_document():
    linked = {(README.parent / target.split("#", 1)[0]).resolve() for target in links(README)}
    for document in DOCUMENTS[1:]:
        assert document.resolve() in linked, f"README.md does not link {document.relative_to(REPO)}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(document):
    broken = []
    for target in links(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I) or target.startswith("//"):
            continue  # https:, mailto: and the like
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists() or not resolved.is_relative_to(REPO):
            broken.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {resolved.relative_to(REPO)}")
    assert broken == [], f"{document.relative_to(REPO)}: " + "; ".join(broken)


def test_one_config_path_everywhere():
    # /etc/footprint-exporter/ (with a hyphen, like the unit, the state directory and the DaemonSet's mount).
    files = [*DOCUMENTS, REPO / "CHANGELOG.md"]
    files += [p for p in (REPO / "deploy").rglob("*") if p.is_file()]
    for path in files:
        text = path.read_text(errors="replace")
        wrong = set(re.findall(r"/etc/footprint[_a-z.-]*", text)) - {"/etc/footprint-exporter"}
        assert wrong == set(), f"{path.relative_to(REPO)} names {sorted(wrong)}; use /etc/footprint-exporter/"
