#!/usr/bin/env python3
"""Writes the grid-region presets of `--grid.region` from the published data files.

Inputs (paths; an http(s) URL is read too):
  --owid FILE        Our World in Data's yearly carbon intensity of electricity (Ember's series), either the
                     grapher export `carbon-intensity-electricity.csv` (Entity,Code,Year,Carbon intensity of
                     electricity - gCO2/kWh) or the full `owid-energy-data.csv` (country,year,iso_code,...,
                     carbon_intensity_elec). For each country with an ISO 3166 code its latest year with a value
                     is taken; aggregates (no code, or an OWID_ code) are left out.
  --ccf-aws/--ccf-gcp/--ccf-azure FILE
                     Cloud Carbon Footprint's grid emissions factors per cloud region (Region,...,CO2e (metric
                     ton/kWh),Source), as published in its coefficients data set.
  --ccf-year YEAR    The year given to the cloud rows: those files state none per row.

Outputs: Sources/GridIntensity/GridRegionTable.swift and the generated part of docs/grid-regions.md (between its
BEGIN/END GENERATED markers), both sorted by code, so the same inputs always give the same bytes. `--check` writes
nothing and fails, with a diff, when the committed files differ from what the inputs give.

Python 3 standard library only. docs/grid-regions.md says which upstream files and revisions the committed table
was made from and the command that regenerates it.
"""

import argparse
import csv
import difflib
import io
import sys
import textwrap
import urllib.request
from decimal import Decimal, InvalidOperation
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWIFT_OUT = REPO / "Sources/GridIntensity/GridRegionTable.swift"
DOCS_OUT = REPO / "docs/grid-regions.md"
BEGIN_MARK = "<!-- BEGIN GENERATED TABLE: scripts/generate-grid-regions.py writes this part -->"
END_MARK = "<!-- END GENERATED TABLE -->"

OWID_SOURCE = "Ember via Our World in Data"
OWID_LICENCE = "CC BY 4.0"
CCF_SOURCE = "Cloud Carbon Footprint"
CCF_LICENCE = "Apache-2.0"

# Values outside this range are refused as garbage (IntensityReading.plausibleGramsPerKilowattHour).
PLAUSIBLE_GRAMS = (Decimal(0), Decimal(2000))

CLOUD_PROVIDERS = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}

# ISO 3166-1 alpha-3 to alpha-2, every officially assigned code (the Debian iso-codes 4.15 list).
ALPHA3_TO_ALPHA2 = {
    "ABW": "AW", "AFG": "AF", "AGO": "AO", "AIA": "AI", "ALA": "AX", "ALB": "AL", "AND": "AD", "ARE": "AE",
    "ARG": "AR", "ARM": "AM", "ASM": "AS", "ATA": "AQ", "ATF": "TF", "ATG": "AG", "AUS": "AU", "AUT": "AT",
    "AZE": "AZ", "BDI": "BI", "BEL": "BE", "BEN": "BJ", "BES": "BQ", "BFA": "BF", "BGD": "BD", "BGR": "BG",
    "BHR": "BH", "BHS": "BS", "BIH": "BA", "BLM": "BL", "BLR": "BY", "BLZ": "BZ", "BMU": "BM", "BOL": "BO",
    "BRA": "BR", "BRB": "BB", "BRN": "BN", "BTN": "BT", "BVT": "BV", "BWA": "BW", "CAF": "CF", "CAN": "CA",
    "CCK": "CC", "CHE": "CH", "CHL": "CL", "CHN": "CN", "CIV": "CI", "CMR": "CM", "COD": "CD", "COG": "CG",
    "COK": "CK", "COL": "CO", "COM": "KM", "CPV": "CV", "CRI": "CR", "CUB": "CU", "CUW": "CW", "CXR": "CX",
    "CYM": "KY", "CYP": "CY", "CZE": "CZ", "DEU": "DE", "DJI": "DJ", "DMA": "DM", "DNK": "DK", "DOM": "DO",
    "DZA": "DZ", "ECU": "EC", "EGY": "EG", "ERI": "ER", "ESH": "EH", "ESP": "ES", "EST": "EE", "ETH": "ET",
    "FIN": "FI", "FJI": "FJ", "FLK": "FK", "FRA": "FR", "FRO": "FO", "FSM": "FM", "GAB": "GA", "GBR": "GB",
    "GEO": "GE", "GGY": "GG", "GHA": "GH", "GIB": "GI", "GIN": "GN", "GLP": "GP", "GMB": "GM", "GNB": "GW",
    "GNQ": "GQ", "GRC": "GR", "GRD": "GD", "GRL": "GL", "GTM": "GT", "GUF": "GF", "GUM": "GU", "GUY": "GY",
    "HKG": "HK", "HMD": "HM", "HND": "HN", "HRV": "HR", "HTI": "HT", "HUN": "HU", "IDN": "ID", "IMN": "IM",
    "IND": "IN", "IOT": "IO", "IRL": "IE", "IRN": "IR", "IRQ": "IQ", "ISL": "IS", "ISR": "IL", "ITA": "IT",
    "JAM": "JM", "JEY": "JE", "JOR": "JO", "JPN": "JP", "KAZ": "KZ", "KEN": "KE", "KGZ": "KG", "KHM": "KH",
    "KIR": "KI", "KNA": "KN", "KOR": "KR", "KWT": "KW", "LAO": "LA", "LBN": "LB", "LBR": "LR", "LBY": "LY",
    "LCA": "LC", "LIE": "LI", "LKA": "LK", "LSO": "LS", "LTU": "LT", "LUX": "LU", "LVA": "LV", "MAC": "MO",
    "MAF": "MF", "MAR": "MA", "MCO": "MC", "MDA": "MD", "MDG": "MG", "MDV": "MV", "MEX": "MX", "MHL": "MH",
    "MKD": "MK", "MLI": "ML", "MLT": "MT", "MMR": "MM", "MNE": "ME", "MNG": "MN", "MNP": "MP", "MOZ": "MZ",
    "MRT": "MR", "MSR": "MS", "MTQ": "MQ", "MUS": "MU", "MWI": "MW", "MYS": "MY", "MYT": "YT", "NAM": "NA",
    "NCL": "NC", "NER": "NE", "NFK": "NF", "NGA": "NG", "NIC": "NI", "NIU": "NU", "NLD": "NL", "NOR": "NO",
    "NPL": "NP", "NRU": "NR", "NZL": "NZ", "OMN": "OM", "PAK": "PK", "PAN": "PA", "PCN": "PN", "PER": "PE",
    "PHL": "PH", "PLW": "PW", "PNG": "PG", "POL": "PL", "PRI": "PR", "PRK": "KP", "PRT": "PT", "PRY": "PY",
    "PSE": "PS", "PYF": "PF", "QAT": "QA", "REU": "RE", "ROU": "RO", "RUS": "RU", "RWA": "RW", "SAU": "SA",
    "SDN": "SD", "SEN": "SN", "SGP": "SG", "SGS": "GS", "SHN": "SH", "SJM": "SJ", "SLB": "SB", "SLE": "SL",
    "SLV": "SV", "SMR": "SM", "SOM": "SO", "SPM": "PM", "SRB": "RS", "SSD": "SS", "STP": "ST", "SUR": "SR",
    "SVK": "SK", "SVN": "SI", "SWE": "SE", "SWZ": "SZ", "SXM": "SX", "SYC": "SC", "SYR": "SY", "TCA": "TC",
    "TCD": "TD", "TGO": "TG", "THA": "TH", "TJK": "TJ", "TKL": "TK", "TKM": "TM", "TLS": "TL", "TON": "TO",
    "TTO": "TT", "TUN": "TN", "TUR": "TR", "TUV": "TV", "TWN": "TW", "TZA": "TZ", "UGA": "UG", "UKR": "UA",
    "UMI": "UM", "URY": "UY", "USA": "US", "UZB": "UZ", "VAT": "VA", "VCT": "VC", "VEN": "VE", "VGB": "VG",
    "VIR": "VI", "VNM": "VN", "VUT": "VU", "WLF": "WF", "WSM": "WS", "YEM": "YE", "ZAF": "ZA", "ZMB": "ZM",
    "ZWE": "ZW",
}


class InputError(Exception):
    pass


def read_text(location: str) -> str:
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=60) as response:  # noqa: S310 (the caller names the URL)
            return response.read().decode("utf-8-sig")
    return Path(location).read_text(encoding="utf-8-sig")


def grams(text: str, per_tonne: bool) -> Decimal | None:
    """The figure as grams per kWh, exactly (Decimal), or None when the cell is empty or not a number."""
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value * 1_000_000 if per_tonne else value


def plain(value: Decimal) -> str:
    """A Decimal as the shortest plain decimal literal ("415.755", "44.179085", "0")."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def read_owid(location: str, warnings: list[str]) -> list[dict]:
    rows = list(csv.reader(io.StringIO(read_text(location))))
    if not rows:
        raise InputError(f"{location}: empty")
    header = [cell.strip() for cell in rows[0]]
    if "carbon_intensity_elec" in header:  # owid-energy-data.csv
        name_col, code_col, year_col = header.index("country"), header.index("iso_code"), header.index("year")
        value_col = header.index("carbon_intensity_elec")
    elif header[:3] == ["Entity", "Code", "Year"] and len(header) >= 4 and "Carbon intensity" in header[3]:
        name_col, code_col, year_col, value_col = 0, 1, 2, 3
    else:
        raise InputError(f"{location}: neither owid-energy-data.csv nor the carbon-intensity-electricity export")
    latest: dict[str, tuple[int, Decimal, str, str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) <= max(name_col, code_col, year_col, value_col):
            continue
        alpha3 = row[code_col].strip()
        if not alpha3 or alpha3.startswith("OWID_"):
            continue  # an aggregate: a continent, an income group, the world
        alpha2 = ALPHA3_TO_ALPHA2.get(alpha3)
        if alpha2 is None:
            warnings.append(f"{location}:{number}: code {alpha3} is not an ISO 3166-1 alpha-3 code; left out")
            continue
        value = grams(row[value_col], per_tonne=False)
        if value is None:
            continue
        try:
            year = int(row[year_col])
        except ValueError:
            continue
        if not PLAUSIBLE_GRAMS[0] <= value <= PLAUSIBLE_GRAMS[1]:
            warnings.append(f"{location}:{number}: {alpha3} {year}: {row[value_col]} g/kWh is implausible; left out")
            continue
        if alpha2 not in latest or year > latest[alpha2][0]:
            latest[alpha2] = (year, value, row[name_col].strip(), alpha3)
    return [
        {
            "code": alpha2,
            "alpha3": alpha3,
            "name": name,
            "grams": value,
            "year": year,
            "source": OWID_SOURCE,
            "licence": OWID_LICENCE,
        }
        for alpha2, (year, value, name, alpha3) in latest.items()
    ]


def azure_code(region: str) -> str:
    """Azure's programmatic region name: the display name in lower case without spaces ("West Europe": westeurope)."""
    return "".join(region.split()).lower()


def read_ccf(provider: str, location: str, year: int, warnings: list[str], rejected: list[dict]) -> list[dict]:
    rows = list(csv.reader(io.StringIO(read_text(location))))
    if not rows:
        raise InputError(f"{location}: empty")
    header = [cell.strip() for cell in rows[0]]
    try:
        value_col = header.index("CO2e (metric ton/kWh)")
    except ValueError:
        raise InputError(f"{location}: no 'CO2e (metric ton/kWh)' column") from None
    place_col = 1  # Country (AWS) or Location (GCP, Azure)
    nerc_col = header.index("NERC Region") if "NERC Region" in header else None
    source_col = header.index("Source") if "Source" in header else None
    presets = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        region = row[0].strip()
        code = f"{provider}:{azure_code(region) if provider == 'azure' else region.lower()}"
        if len(row) != len(header):
            warnings.append(f"{location}:{number}: {region}: {len(row)} cells where the header has {len(header)}")
        value = grams(row[value_col], per_tonne=True) if len(row) > value_col else None
        if value is None or not PLAUSIBLE_GRAMS[0] <= value <= PLAUSIBLE_GRAMS[1]:
            cell = row[value_col] if len(row) > value_col else ""
            warnings.append(f"{location}:{number}: {region}: CO2e {cell!r} t/kWh is not a plausible figure; left out")
            rejected.append({"code": code, "file": Path(location).name, "line": number, "cell": cell})
            continue
        place = row[place_col].strip() if len(row) > place_col else ""
        nerc = row[nerc_col].strip() if nerc_col is not None and len(row) > nerc_col else ""
        detail = ", ".join(part for part in (place, f"NERC {nerc}" if nerc else "") if part)
        label = region if provider == "azure" else region.lower()
        upstream = row[source_col].strip() if source_col is not None and len(row) > source_col else ""
        presets.append(
            {
                "code": code,
                "alpha3": "",
                "name": f"{CLOUD_PROVIDERS[provider]} {label}" + (f" ({detail})" if detail else ""),
                "grams": value,
                "year": year,
                "source": f"{CCF_SOURCE} (from {upstream or 'unnamed'})",
                "upstream": upstream or "unnamed",
                "licence": CCF_LICENCE,
            }
        )
    return presets


def swift_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_swift(presets: list[dict], provenance: list[str]) -> str:
    lines = [
        "// Generated by scripts/generate-grid-regions.py: do not edit. Regenerate with the command in",
        "// docs/grid-regions.md, which also says where every figure comes from and under which licence.",
        "//",
        "// Made from:",
        *[
            wrapped
            for line in provenance
            for wrapped in textwrap.wrap(line, 120, initial_indent="//   ", subsequent_indent="//     ", break_on_hyphens=False)
        ],
        "",
        "extension RegionPresets {",
        f"    /// A country's yearly figure: {OWID_SOURCE}, {OWID_LICENCE}.",
        "    private static func ember(_ code: String, _ name: String, _ grams: Double, _ year: Int) -> RegionPreset {",
        "        RegionPreset(",
        "            code: code, name: name, gramsPerKilowattHour: grams, year: year,",
        f"            source: {swift_string(OWID_SOURCE)}, licence: {swift_string(OWID_LICENCE)})",
        "    }",
        "",
        f"    /// A cloud region's factor: {CCF_SOURCE}, {CCF_LICENCE}; `upstream` is the source CCF names for it.",
        "    private static func ccf(",
        "        _ code: String, _ name: String, _ grams: Double, _ year: Int, from upstream: String",
        "    ) -> RegionPreset {",
        "        RegionPreset(",
        "            code: code, name: name, gramsPerKilowattHour: grams, year: year,",
        f'            source: "{CCF_SOURCE} (from \\(upstream))", licence: {swift_string(CCF_LICENCE)})',
        "    }",
        "",
        "    /// Every preset of `--grid.region`, sorted by code: (code, name, g CO2e/kWh, year[, CCF's upstream]).",
        "    static let generatedTable: [RegionPreset] = [",
    ]
    for preset in presets:
        head = f"{swift_string(preset['code'])}, {swift_string(preset['name'])}, {plain(preset['grams'])}, {preset['year']}"
        if preset["licence"] == OWID_LICENCE:
            lines.append(f"        ember({head}),")
        else:
            lines.append(f"        ccf({head}, from: {swift_string(preset['upstream'])}),")
    lines += [
        "    ]",
        "",
        "    /// ISO 3166-1 alpha-3 codes of the country presets, to their alpha-2 codes.",
        "    static let generatedAlpha3: [String: String] = [",
    ]
    pairs = [
        f"{swift_string(p['alpha3'])}: {swift_string(p['code'])},"
        for p in sorted((p for p in presets if p["alpha3"]), key=lambda p: p["alpha3"])
    ]
    for start in range(0, len(pairs), 8):
        lines.append("        " + " ".join(pairs[start : start + 8]))
    lines += ["    ]", "}", ""]
    too_long = [line for line in lines if len(line) > 120 and not line.startswith("//")]
    if too_long:
        raise InputError(f"a generated Swift line is longer than 120 characters: {too_long[0]}")
    return "\n".join(lines)


def markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(presets: list[dict], provenance: list[str], rejected: list[dict]) -> str:
    countries = [p for p in presets if ":" not in p["code"]]
    clouds = [p for p in presets if ":" in p["code"]]
    lines = [
        BEGIN_MARK,
        "",
        f"{len(presets)} presets: {len(countries)} countries and {len(clouds)} cloud regions, made from:",
        "",
        *[f"- {line}" for line in provenance],
        "",
    ]
    for title, group in (("Countries", countries), ("Cloud regions", clouds)):
        lines += [
            f"### {title}",
            "",
            "| Code | Name | g CO2e/kWh | Year | Source | Licence |",
            "| --- | --- | ---: | ---: | --- | --- |",
        ]
        for p in group:
            lines.append(
                f"| `{p['code']}` | {markdown_cell(p['name'])} | {plain(p['grams'])} | {p['year']} | "
                f"{markdown_cell(p['source'])} | {p['licence']} |"
            )
        lines.append("")
    if rejected:
        lines += ["Rows of the inputs left out because their figure is not a plausible number:", ""]
        for r in rejected:
            lines.append(f"- `{r['code']}`: {r['file']} line {r['line']}, CO2e cell `{r['cell']}`")
        lines.append("")
    lines.append(END_MARK)
    return "\n".join(lines)


def splice(document: str, generated: str) -> str:
    start, end = document.find(BEGIN_MARK), document.find(END_MARK)
    if start < 0 or end < start:
        raise InputError(f"{DOCS_OUT.relative_to(REPO)}: no BEGIN/END GENERATED TABLE markers")
    return document[:start] + generated + document[end + len(END_MARK) :]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owid", required=True, help="carbon-intensity-electricity.csv or owid-energy-data.csv")
    parser.add_argument("--ccf-aws", required=True, help="grid-emissions-factors-aws.csv")
    parser.add_argument("--ccf-gcp", required=True, help="grid-emissions-factors-gcp.csv")
    parser.add_argument("--ccf-azure", required=True, help="grid-emissions-factors-azure.csv")
    parser.add_argument("--ccf-year", required=True, type=int, help="the year to give the cloud rows")
    parser.add_argument(
        "--provenance",
        action="append",
        default=[],
        help="a line naming an input's upstream file and revision, for the headers (repeatable)",
    )
    parser.add_argument("--swift-out", type=Path, default=SWIFT_OUT)
    parser.add_argument("--docs", type=Path, default=DOCS_OUT, help="the Markdown file with the markers")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if the outputs are out of date")
    args = parser.parse_args(argv)

    warnings: list[str] = []
    rejected: list[dict] = []
    try:
        presets = read_owid(args.owid, warnings)
        for provider in ("aws", "gcp", "azure"):
            presets += read_ccf(provider, getattr(args, f"ccf_{provider}"), args.ccf_year, warnings, rejected)
        codes = [p["code"] for p in presets]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise InputError(f"duplicate codes: {', '.join(duplicates)}")
        presets.sort(key=lambda p: p["code"])
        provenance = args.provenance or [
            f"{Path(args.owid).name} ({OWID_SOURCE}, {OWID_LICENCE})",
            *[f"{Path(getattr(args, f'ccf_{p}')).name} ({CCF_SOURCE}, {CCF_LICENCE})" for p in CLOUD_PROVIDERS],
        ]
        swift = render_swift(presets, provenance)
        docs_before = args.docs.read_text(encoding="utf-8") if args.docs.exists() else ""
        docs = splice(docs_before, render_markdown(presets, provenance, rejected))
    except (InputError, OSError) as error:
        print(f"generate-grid-regions: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"generate-grid-regions: warning: {warning}", file=sys.stderr)

    outputs = [(args.swift_out, swift), (args.docs, docs)]
    if args.check:
        stale = False
        for path, text in outputs:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                stale = True
                sys.stdout.writelines(
                    difflib.unified_diff(
                        current.splitlines(keepends=True), text.splitlines(keepends=True), str(path), "regenerated"
                    )
                )
        if stale:
            print("generate-grid-regions: out of date; rerun without --check", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs:
        path.write_text(text, encoding="utf-8")
    countries = sum(1 for p in presets if ":" not in p["code"])
    print(f"generate-grid-regions: {len(presets)} presets ({countries} countries, {len(presets) - countries} cloud)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
