"""The live page's number formatting, reproduced twice: as the inline script formats (JavaScript's toFixed, used
after each refresh) and as the server renders (Sources/FootprintExporter/Summary/SummaryPage.swift, `Format`, what a
browser without JavaScript shows). `expected_page(summary, formatting)` is what the page must show for a summary,
in the shape of the live page's SNAPSHOT (test_live_page.py)."""

import datetime
import decimal
import math
import struct

COMPONENTS = ("cpu", "dram", "gpu")
_CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_UP)


class Script:
    """The inline script's helpers: num = Number(v).toFixed(d), sig, watts, grams, kwh, clock, spark."""

    @classmethod
    def sig(cls, value):
        # About three significant digits below 1, two decimals from 1 up (Format.significant / the script's sig).
        if not math.isfinite(value):
            return "–"
        if value <= 0:
            return "0" if value == 0 else "–"
        if value >= 1:
            return cls.number(value, 2)
        return cls.number(value, min(12, 2 - math.floor(math.log10(value))))

    @staticmethod
    def number(value, digits):
        # Number.prototype.toFixed: the exact decimal value of the double, ties away from zero ("pick the larger n"
        # after taking the sign off); a negative value keeps its sign even when it rounds to zero; -0 prints as 0.
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        assert abs(value) < 1e21, "toFixed switches to exponent notation here; not reproduced"
        if value == 0:
            value = 0.0
        quantum = decimal.Decimal(1).scaleb(-digits)
        text = format(decimal.Decimal(value).quantize(quantum, context=_CONTEXT), "f")
        if value < 0 and not text.startswith("-"):
            text = "-" + text
        return text

    @classmethod
    def clock(cls, seconds):
        # new Date(t*1000): the time value is t*1000 truncated to whole milliseconds; toISOString, first 19 chars.
        milliseconds = math.trunc(seconds * 1000)
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=milliseconds // 1000)
        return moment.strftime("%Y-%m-%d %H:%M:%S") + " UTC"

    @classmethod
    def spark(cls, points):
        if len(points) < 2:
            return ""
        top = max(max(points), 0.001)
        n = len(points)
        return "".join(f"{'L' if i else 'M'}{cls.number(i / (n - 1) * 300, 1)} {cls.number(58 - v / top * 56, 1)}"
                       for i, v in enumerate(points))

    @classmethod
    def watts(cls, w):
        return f"{cls.number(w / 1000, 2)} kW" if w >= 1000 else f"{cls.number(w, 1)} W"

    @classmethod
    def grams(cls, g):
        if g >= 1e6:
            return f"{cls.number(g / 1e6, 3)} t"
        return f"{cls.number(g / 1000, 3)} kg" if g >= 1000 else f"{cls.number(g, 2)} g"

    @classmethod
    def kwh(cls, k):
        if k >= 1000:
            return f"{cls.number(k / 1000, 3)} MWh"
        return f"{cls.number(k, 3)} kWh" if k >= 1 else f"{cls.number(k * 1000, 2)} Wh"


def _swift_rounded(value):
    """Double.rounded(): to nearest, ties away from zero, exactly."""
    return float(decimal.Decimal(value).quantize(decimal.Decimal(1), context=_CONTEXT))


def _float32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


class Server(Script):
    """Format in SummaryPage.swift: the value times 10^d rounded in binary, then whole and fraction apart; '–' for
    non-finite values; the clock truncates to whole seconds; the sparkline divides in Float."""

    @staticmethod
    def number(value, decimals):
        # Rounds exactly as toFixed does (SummaryPage.swift computes the exact decimal value of the double), so the
        # script never changes a number it takes over; only non-finite values differ.
        if not math.isfinite(value):
            return "–"
        return Script.number(value, decimals)

    @classmethod
    def clock(cls, seconds):
        if seconds <= 0:
            return "–"
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(seconds))
        return moment.strftime("%Y-%m-%d %H:%M:%S") + " UTC"

    @classmethod
    def spark(cls, points):
        if len(points) < 2:
            return ""
        points = [_float32(p) for p in points]
        top = _float32(max(max(points), 0.001))
        n = len(points)
        return "".join(
            f"{'L' if i else 'M'}{cls.number(i / (n - 1) * 300, 1)} {cls.number(58 - _float32(v / top) * 56, 1)}"
            for i, v in enumerate(points))


def expected_page(s, f):
    """What the page shows for summary `s` when formatted by `f` (Script or Server), as SNAPSHOT returns it."""
    text = {
        "updated": f.clock(s["timestamp"]),
        "power-total": f.watts(s["power_watts"]["total"]),
        "power-facility": f.watts(s["facility_power_watts"]),
        "pue": f.number(s["pue"], 2),
        "co2e": f.grams(s["co2e_grams"]),
        "co2e-lbs": f.sig(s["co2e_lbs"]),
        "intensity": f.number(s["grid_intensity_grams_per_kwh"], 1),
        "intensity-source": s["grid_intensity_source"],
        "energy": f.kwh(s["energy_kwh"]),
        "facility-energy": f.kwh(s["facility_energy_kwh"]),
        "flights": f.sig(s["ny_sf_flights"]),
        "cars": f.sig(s["car_lifetimes"]),
    }
    badges, sparks = {}, {}
    for c in COMPONENTS:
        measured = c in s["measured_components"]
        text[f"{c}-power"] = f.watts(s["power_watts"][c])
        text[f"{c}-energy"] = f.kwh(s["energy_joules"][c] / 3.6e6)
        kind = ("measured", "measured") if measured else ("none", "none") if c == "gpu" else ("estimated", "estimate")
        text[f"{c}-kind"] = kind[0]
        badges[c] = "badge " + kind[1]
        sparks[c] = f.spark(s["history"][c])
    return {
        "text": text,
        "badges": badges,
        "sparks": sparks,
        "sources": [[x["name"], "up" if x["up"] else "down", "measured" if x["measured"] else "estimate",
                     str(x["errors"])] for x in s["sources"]],
        "sourceStates": ["up" if x["up"] else "down" for x in s["sources"]],
        "workloads": [[w["kind"], w["name"], f.watts(w["power_watts"]), f.kwh(w["energy_joules"] / 3.6e6),
                       f.grams(w["co2e_grams"])] for w in s["workloads"]],
        "workloadsHidden": not s["attribution"],
        "title": f"footprint_exporter · {f.watts(s['power_watts']['total'])} · {f.grams(s['co2e_grams'])} CO2e",
    }
