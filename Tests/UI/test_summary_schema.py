"""GET /api/v1/summary against its documentation: docs/live-page.md's section "/api/v1/summary" lists
every field with its type, and the live JSON must have exactly those fields (recursively, with those types) on a
node where every array has members (the busy node) and no other field on the vm; the vm's summary, volatile values
filtered, is golden-tested against Tests/UI/summary-golden.json (UPDATE_GOLDEN=1 rewrites it for review)."""

import json
import os
import re
import time

from harness import REPO

DOCUMENT = os.path.join(REPO, "docs", "live-page.md")
SECTION = "## /api/v1/summary\n"
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "summary-golden.json")
TYPES = {"string", "number", "integer", "boolean", "object", "array of string", "array of number",
         "array of object"}
# What moves from one sample to the next on the vm (energy accumulates; the clock runs).
VOLATILE = {"timestamp", "energy_joules.cpu", "energy_joules.dram", "energy_joules.total", "energy_kwh",
            "facility_energy_kwh", "co2e_grams", "co2e_lbs", "ny_sf_flights", "car_lifetimes"}
# The history grows by a point a second: the golden file keeps each series' distinct values, not its length.
SERIES = {"history.cpu", "history.dram", "history.gpu"}


def documented_fields():
    """{path: type} from docs/live-page.md's field table; paths as `a.b`, array members as `a[].b`."""
    with open(DOCUMENT) as handle:
        text = handle.read()
    assert SECTION in text, f"docs/live-page.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    fields = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"`[a-z0-9_.\[\]]+`", cells[0]):
            continue
        path, kind = cells[0].strip("`"), cells[1]
        assert kind in TYPES, f"docs/live-page.md: {path} has type {kind!r}, not one of {sorted(TYPES)}"
        assert path not in fields, f"docs/live-page.md lists {path} twice"
        fields[path] = kind
    assert len(fields) > 20, f"docs/live-page.md's field table has only {len(fields)} rows: {fields}"
    return fields


def kind_of(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        members = {kind_of(v) for v in value}
        if members <= {"integer", "number"} and members:
            return "array of number"
        assert len(members) <= 1, f"an array of mixed members: {members}"
        return f"array of {members.pop()}" if members else "array"
    return repr(type(value))


def live_fields(value, prefix="", out=None):
    """{path: type} of a JSON document, as documented_fields writes them."""
    out = {} if out is None else out
    for key, member in value.items():
        path = f"{prefix}{key}"
        kind = kind_of(member)
        assert out.get(path, kind) == kind, f"{path} is {out[path]} in one member and {kind} in another"
        out[path] = kind
        if isinstance(member, dict):
            live_fields(member, f"{path}.", out)
        elif isinstance(member, list):
            for element in member:
                if isinstance(element, dict):
                    live_fields(element, f"{path}[].", out)
    return out


def conforms(documented, live):
    """A live type fits a documented one: a whole number is a number (JSON writes 0.0 as 0), an empty array is an
    array of anything."""
    return (live == documented or (documented == "number" and live == "integer")
            or (documented.startswith("array of ") and live == "array"))


def check(summary, require_every_field):
    documented = documented_fields()
    live = live_fields(summary)
    undocumented = sorted(set(live) - set(documented))
    assert undocumented == [], f"fields of /api/v1/summary missing from docs/live-page.md's table: {undocumented}"
    wrong = {p: (documented[p], live[p]) for p in live if not conforms(documented[p], live[p])}
    assert wrong == {}, "fields whose type differs from docs/live-page.md's (documented, live)"
    missing = sorted(set(documented) - set(live))
    if require_every_field:
        assert missing == [], f"docs/live-page.md documents fields /api/v1/summary lacks: {missing}"
    else:  # only the members of empty arrays may be absent
        empty = {p for p, kind in live.items() if kind == "array"}
        assert [p for p in missing if p.split("[]")[0] not in empty] == [], missing


def summary_of(exporter):
    status, headers, body = exporter.get("/api/v1/summary")
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    return json.loads(body)


def filtered(summary):
    """The summary with what moves replaced: volatile values by "<volatile>", the history by its distinct values."""
    def walk(value, prefix=""):
        if isinstance(value, dict):
            return {k: walk(v, f"{prefix}{k}.") for k, v in value.items()}
        path = prefix[:-1]
        if path in VOLATILE:
            assert isinstance(value, (int, float)) and value >= 0, (path, value)
            return "<volatile>"
        if path in SERIES:
            return sorted(set(value))
        return value
    return walk(summary)


def test_every_field_is_documented_with_its_type(busy):
    summary = summary_of(busy)
    assert summary["workloads"] and summary["sources"] and summary["measured_components"], summary
    check(summary, require_every_field=True)


def test_vm_summary_matches_the_golden_file(exporter_factory):
    exporter = exporter_factory("vm")
    deadline = time.monotonic() + 10
    while len(summary_of(exporter)["history"]["cpu"]) < 2:  # two points: the series' values are there
        assert time.monotonic() < deadline, "the history did not reach 2 points in 10 s"
        time.sleep(0.1)
    summary = summary_of(exporter)
    check(summary, require_every_field=False)
    text = json.dumps(filtered(summary), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        with open(GOLDEN, "w") as handle:
            handle.write(text)
    with open(GOLDEN) as handle:
        expected = handle.read()
    assert text == expected, f"/api/v1/summary differs from {GOLDEN} (run with UPDATE_GOLDEN=1 and review the diff)"
