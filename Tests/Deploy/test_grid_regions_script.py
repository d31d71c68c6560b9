"""scripts/generate-grid-regions.py on excerpts of its published inputs (Tests/Fixtures/grid-regions/): the rows it
writes, that it writes them sorted and the same bytes every time, that aggregates and malformed rows stay out, that
--check catches a stale table, and that the committed table agrees with what the excerpts give for the same codes."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts/generate-grid-regions.py"
FIXTURES = REPO / "Tests/Fixtures/grid-regions"
COMMITTED_TABLE = REPO / "Sources/GridIntensity/GridRegionTable.swift"
COMMITTED_DOCS = REPO / "docs/grid-regions.md"
MARKERS = (
    "<!-- BEGIN GENERATED TABLE: scripts/generate-grid-regions.py writes this part -->\n"
    "<!-- END GENERATED TABLE -->\n"
)
ROW = re.compile(
    r'^        (ember|ccf)\("([^"]+)", "([^"]*)", ([0-9.]+), (\d{4})(?:, from: "([^"]*)")?\),$', re.MULTILINE
)


def run(tmp_path: Path, *extra: str, owid: str = "carbon-intensity-electricity.csv") -> subprocess.CompletedProcess:
    docs = tmp_path / "grid-regions.md"
    if not docs.exists():
        docs.write_text("# Presets\n\n" + MARKERS, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--owid",
            str(FIXTURES / owid),
            "--ccf-aws",
            str(FIXTURES / "grid-emissions-factors-aws.csv"),
            "--ccf-gcp",
            str(FIXTURES / "grid-emissions-factors-gcp.csv"),
            "--ccf-azure",
            str(FIXTURES / "grid-emissions-factors-azure.csv"),
            "--ccf-year",
            "2021",
            "--swift-out",
            str(tmp_path / "GridRegionTable.swift"),
            "--docs",
            str(docs),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(swift: str) -> dict[str, tuple]:
    return {m[1]: (m[0], m[2], float(m[3]), int(m[4]), m[5] or None) for m in ROW.findall(swift)}


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, subprocess.CompletedProcess]:
    result = run(tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path, result


def test_writes_the_latest_year_of_each_country_and_every_cloud_row(generated):
    directory, _ = generated
    table = rows((directory / "GridRegionTable.swift").read_text(encoding="utf-8"))
    assert table["FR"] == ("ember", "France", 44.179085, 2024, None)
    assert table["PL"] == ("ember", "Poland", 614.98236, 2024, None)
    assert table["AF"] == ("ember", "Afghanistan", 123.711334, 2023, None)
    assert table["aws:us-east-1"] == ("ccf", "AWS us-east-1 (United States, NERC SERC)", 415.755, 2021, "EPA")
    assert table["aws:eu-north-1"][2] == 8
    assert table["gcp:europe-west4"] == ("ccf", "GCP europe-west4 (Netherlands)", 474, 2021, "Google")
    assert table["azure:westeurope"] == ("ccf", "Azure West Europe (Netherlands)", 390, 2021, "EEA")
    assert table["azure:eastus2"][2] == 415.755
    assert set(table) == {
        "AF", "DE", "FR", "GB", "NL", "PL", "US",
        "aws:eu-north-1", "aws:eu-west-3", "aws:us-east-1",
        "azure:eastus2", "azure:westeurope",
        "gcp:europe-west4", "gcp:us-central1",
    }  # fmt: skip


def test_leaves_out_aggregates_and_malformed_rows_and_says_so(generated):
    directory, result = generated
    swift = (directory / "GridRegionTable.swift").read_text(encoding="utf-8")
    names = [name for _, name, *_ in rows(swift).values()]
    assert not [name for name in names if name.startswith(("ASEAN", "World", "Kosovo"))]
    assert '"XK"' not in swift and "OWID_" not in swift and "finlandcentral" not in swift
    assert "Finland Central: CO2e '000077' t/kWh is not a plausible figure; left out" in result.stderr
    docs = (directory / "grid-regions.md").read_text(encoding="utf-8")
    assert "`azure:finlandcentral`: grid-emissions-factors-azure.csv line 4, CO2e cell `000077`" in docs


def test_output_is_sorted_and_the_same_bytes_every_time(tmp_path: Path, generated):
    directory, _ = generated
    first = (directory / "GridRegionTable.swift").read_bytes(), (directory / "grid-regions.md").read_bytes()
    again = tmp_path / "again"
    again.mkdir()
    assert run(again).returncode == 0
    assert ((again / "GridRegionTable.swift").read_bytes(), (again / "grid-regions.md").read_bytes()) == first
    codes = [m[1] for m in ROW.findall(first[0].decode())]
    assert codes == sorted(codes)
    assert all(len(line) <= 120 for line in first[0].decode().splitlines() if not line.startswith("//"))


def test_docs_table_lists_the_same_rows(generated):
    directory, _ = generated
    table = rows((directory / "GridRegionTable.swift").read_text(encoding="utf-8"))
    docs = (directory / "grid-regions.md").read_text(encoding="utf-8")
    assert docs.startswith("# Presets\n\n<!-- BEGIN GENERATED TABLE")
    assert "14 presets: 7 countries and 7 cloud regions" in docs
    listed = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([0-9.]+) \| (\d{4}) \|", docs, re.MULTILINE)
    assert {code: (name.strip(), float(grams), int(year)) for code, name, grams, year in listed} == {
        code: (name, grams, year) for code, (_, name, grams, year, _) in table.items()
    }


def test_check_passes_when_up_to_date_and_fails_with_a_diff_when_not(generated):
    directory, _ = generated
    assert run(directory, "--check").returncode == 0
    table = directory / "GridRegionTable.swift"
    table.write_text(table.read_text(encoding="utf-8").replace("44.179085", "45"), encoding="utf-8")
    result = run(directory, "--check")
    assert result.returncode == 1
    assert "-        ember(\"FR\", \"France\", 45, 2024)," in result.stdout
    assert "+        ember(\"FR\", \"France\", 44.179085, 2024)," in result.stdout
    assert "45" in table.read_text(encoding="utf-8")  # --check wrote nothing


def test_reads_owid_energy_data_too(tmp_path: Path):
    result = run(tmp_path, owid="owid-energy-data.csv")
    assert result.returncode == 0, result.stderr
    table = rows((tmp_path / "GridRegionTable.swift").read_text(encoding="utf-8"))
    assert table["AF"] == ("ember", "Afghanistan", 131.31, 2024, None)
    assert not [code for code in table if ":" not in code and code != "AF"]


def test_refuses_a_file_of_another_shape(tmp_path: Path):
    result = run(tmp_path, "--ccf-year", "2021", owid="grid-emissions-factors-aws.csv")
    assert result.returncode == 2
    assert "neither owid-energy-data.csv nor the carbon-intensity-electricity export" in result.stderr


def test_committed_table_agrees_with_the_excerpts(generated):
    """The excerpts hold each country's latest year of the full file, so their rows are the committed rows."""
    directory, _ = generated
    excerpt = rows((directory / "GridRegionTable.swift").read_text(encoding="utf-8"))
    committed = rows(COMMITTED_TABLE.read_text(encoding="utf-8"))
    assert len(committed) > 250
    for code, row in excerpt.items():
        assert committed.get(code) == row, code
    assert "`azure:finlandcentral`" in COMMITTED_DOCS.read_text(encoding="utf-8")


def test_committed_table_is_sorted_and_matches_the_committed_docs():
    committed = rows(COMMITTED_TABLE.read_text(encoding="utf-8"))
    codes = [m[1] for m in ROW.findall(COMMITTED_TABLE.read_text(encoding="utf-8"))]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    docs = COMMITTED_DOCS.read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([0-9.]+) \| (\d{4}) \|", docs, re.MULTILINE)
    assert {code: (float(grams), int(year)) for code, _, grams, year in listed} == {
        code: (grams, year) for code, (_, _, grams, year, _) in committed.items()
    }
