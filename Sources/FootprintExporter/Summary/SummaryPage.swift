import Glibc
import MetricsServer

/// The live page at `/`: one self-contained HTML document (inline style and script, no external font, script or
/// CDN, so it works offline), rendered from the latest `Summary` at request time, so it shows the values with
/// JavaScript off; with JavaScript on it refreshes them from `/api/v1/summary` every few seconds.
enum SummaryPage {
    /// The page's Content-Security-Policy: nothing but its own inline style and script, and requests to its origin.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src \(ContentSecurity.hashSource(of: style)); script-src \(ContentSecurity.hashSource(of: script)); connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func render(_ summary: Summary, telemetryPath: String) -> [UInt8] {
        let s = summary
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="icon" href="/favicon.ico">
            <title>footprint_exporter · \(Format.watts(s.powerWatts.total)) · \(Format.grams(s.co2eGrams)) CO2e</title>
            <style>\(style)</style>
            </head>
            <body>
            <header><h1>footprint<span>_exporter</span></h1><p class="meta">version \(escape(s.version)) · updated <time id="updated">\(Format.clock(s.timestamp))</time></p></header>
            <main>
            <section class="hero">
            <div class="card big"><h2>IT power now</h2><p class="value" id="power-total">\(Format.watts(s.powerWatts.total))</p><p class="sub">facility <span id="power-facility">\(Format.watts(s.facilityPowerWatts))</span> at PUE <span id="pue">\(Format.number(s.pue, 2))</span></p></div>
            <div class="card big"><h2>CO2e emitted</h2><p class="value" id="co2e">\(Format.grams(s.co2eGrams))</p><p class="sub"><span id="co2e-lbs">\(Format.significant(s.co2eLbs))</span> lbs · grid <span id="intensity">\(Format.number(s.gridIntensityGramsPerKWh, 1))</span> g/kWh (<span id="intensity-source">\(escape(s.gridIntensitySource))</span>)</p></div>
            <div class="card big"><h2>Energy</h2><p class="value" id="energy">\(Format.kwh(s.energyKWh))</p><p class="sub"><span id="facility-energy">\(Format.kwh(s.facilityEnergyKWh))</span>·PUE facility</p></div>
            <div class="card big"><h2>Equivalents</h2><p class="value" id="flights">\(Format.significant(s.nySFFlights))</p><p class="sub">NY↔SF passenger flights (1984 lbs) · <span id="cars">\(Format.significant(s.carLifetimes))</span> car lifetimes (126,000 lbs)</p></div>
            </section>
            <section class="components">

            """
        for (name, label, watts, joules) in [
            ("cpu", "CPU", s.powerWatts.cpu, s.energyJoules.cpu),
            ("dram", "DRAM", s.powerWatts.dram, s.energyJoules.dram),
            ("gpu", "GPU", s.powerWatts.gpu, s.energyJoules.gpu),
        ] {
            let points = name == "cpu" ? s.history.cpu : name == "dram" ? s.history.dram : s.history.gpu
            let kind = componentKind(name, s)
            html += """
                <div class="card component"><h2>\(label) <span class="badge \(kind.badge)" id="\(name)-kind">\(kind.text)</span></h2><p class="value" id="\(name)-power">\(Format.watts(watts))</p><p class="sub"><span id="\(name)-energy">\(Format.kwh(joules / 3.6e6))</span> since start</p><svg class="spark" id="\(name)-spark" viewBox="0 0 300 60" preserveAspectRatio="none" role="img" aria-label="\(label) power, last hour"><path d="\(sparkPath(points))"/></svg></div>

                """
        }
        html += """
            </section>
            <section class="card"><h2>Sources</h2><table id="sources"><thead><tr><th>source</th><th>state</th><th>kind</th><th>failed reads</th></tr></thead><tbody>
            """
        for source in s.sources {
            html +=
                "<tr><td>\(escape(source.name))</td><td class=\"\(source.up ? "up" : "down")\">\(source.up ? "up" : "down")</td><td>\(source.measured ? "measured" : "estimate")</td><td>\(source.errors)</td></tr>"
        }
        html += "</tbody></table></section>\n"
        html += """
            <section class="card" id="workloads-card"\(s.attribution ? "" : " hidden")><h2>Top workloads by power</h2><p class="sub" id="no-workloads"\(s.workloads.isEmpty ? "" : " hidden")>No workload seen on this node yet.</p><table id="workloads"><thead><tr><th>kind</th><th>name</th><th>power</th><th>energy</th><th>CO2e</th></tr></thead><tbody>
            """
        for workload in s.workloads {
            html +=
                "<tr><td>\(escape(workload.kind))</td><td>\(escape(workload.name))</td><td>\(Format.watts(workload.powerWatts))</td><td>\(Format.kwh(workload.energyJoules / 3.6e6))</td><td>\(Format.grams(workload.co2eGrams))</td></tr>"
        }
        html += """
            </tbody></table></section>
            </main>
            <footer><a href="\(escape(telemetryPath))">Metrics</a> · <a href="/api/v1/summary">Summary (JSON)</a> · <a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></footer>
            <script>\(script)</script>
            </body>
            </html>

            """
        return Array(html.utf8)
    }

    /// What a component's badge says: measured by hardware, estimated, or none (a node without GPUs).
    static func componentKind(_ name: String, _ s: Summary) -> (text: String, badge: String) {
        if s.measuredComponents.contains(name) { return ("measured", "measured") }
        return name == "gpu" ? ("none", "none") : ("estimated", "estimate")
    }

    /// An SVG path of `points` scaled into 300 × 60 (the sparkline's view box).
    static func sparkPath(_ points: [Float]) -> String {
        guard points.count > 1 else { return "" }
        let top = max(points.max() ?? 0, 0.001)
        var path = ""
        path.reserveCapacity(points.count * 12)
        for (index, point) in points.enumerated() {
            let x = Double(index) / Double(points.count - 1) * 300
            let y = 58 - Double(point / top) * 56
            path += "\(index == 0 ? "M" : "L")\(Format.number(x, 1)) \(Format.number(y, 1))"
        }
        return path
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A leaf, the page's icon (served at /favicon.ico, so the browser's request for one is not a 404).
    static let icon = Array(
        ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path fill="#1f7a4d" d="M14 2C6 2 2 6 2 12c0 1 0 2 1 2 0-4 3-7 7-8-3 2-5 4-6 7 8 1 10-5 10-11z"/></svg>"##
            .utf8)

    static let style = """
        :root{color-scheme:light dark;--bg:#f7f7f4;--fg:#1d2321;--muted:#5d6661;--card:#fff;--line:#dfe3df;--accent:#1f7a4d;--warn:#b25b00;--bad:#b3261e}
        @media (prefers-color-scheme:dark){:root{--bg:#121614;--fg:#e6ebe8;--muted:#9aa59f;--card:#1b211e;--line:#2c3430;--accent:#5cc98f;--warn:#f0a450;--bad:#ff8a80}}
        *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
        header,main,footer{max-width:1100px;margin:0 auto;padding:0 16px}header{padding-top:20px}h1{font-size:22px;margin:0}h1 span{color:var(--muted);font-weight:400}
        .meta{color:var(--muted);margin:2px 0 12px}.hero,.components{display:grid;gap:12px;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));margin-bottom:12px}.hero{grid-template-columns:repeat(auto-fit,minmax(160px,1fr))}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;margin-bottom:12px}.hero .card,.components .card{margin:0}
        h2{font-size:13px;font-weight:600;letter-spacing:.02em;color:var(--muted);margin:0 0 6px}
        .value{font-size:30px;font-weight:650;margin:0;font-variant-numeric:tabular-nums}.sub{color:var(--muted);margin:4px 0 0;font-variant-numeric:tabular-nums}
        .badge{font-size:11px;padding:1px 7px;border-radius:9px;letter-spacing:0;margin-left:6px}.measured{background:var(--accent);color:var(--card)}.estimate{background:var(--warn);color:var(--card)}.none{background:var(--line);color:var(--muted)}
        .spark{width:100%;height:60px;margin-top:8px}.spark path{fill:none;stroke:var(--accent);stroke-width:1.5;vector-effect:non-scaling-stroke}
        table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);white-space:nowrap}td:nth-child(2){white-space:normal;overflow-wrap:anywhere}th{color:var(--muted);font-weight:600;font-size:13px}
        td.up{color:var(--accent);font-weight:600}td.down{color:var(--bad);font-weight:600}footer{color:var(--muted);padding-bottom:24px}a{color:var(--accent)}
        @media (max-width:520px){.value{font-size:24px}.hero{grid-template-columns:1fr 1fr}.hero .value{font-size:20px}th,td{padding:5px 4px;font-size:13px}.meta{font-size:13px}}
        """

    /// Refreshes every value from `/api/v1/summary`; the same formatting as the server's (`Format`).
    static let script = """
        "use strict";
        (function(){
        const $=id=>document.getElementById(id);
        const num=(v,d)=>Number(v).toFixed(d);
        const sig=v=>!isFinite(v)?"–":v<=0?(v===0?"0":"–"):v>=1?num(v,2):num(v,Math.min(12,2-Math.floor(Math.log10(v))));
        const watts=w=>w>=1000?num(w/1000,2)+" kW":num(w,1)+" W";
        const grams=g=>g>=1e6?num(g/1e6,3)+" t":g>=1000?num(g/1000,3)+" kg":num(g,2)+" g";
        const kwh=k=>k>=1000?num(k/1000,3)+" MWh":k>=1?num(k,3)+" kWh":num(k*1000,2)+" Wh";
        const clock=t=>new Date(t*1000).toISOString().replace("T"," ").slice(0,19)+" UTC";
        const text=(id,v)=>{const e=$(id);if(e)e.textContent=v;};
        function spark(id,points){const e=$(id);if(!e)return;const p=e.querySelector("path");if(points.length<2){p.setAttribute("d","");return;}
        const top=Math.max(Math.max(...points),0.001);p.setAttribute("d",points.map((v,i)=>(i?"L":"M")+num(i/(points.length-1)*300,1)+" "+num(58-v/top*56,1)).join(""));}
        function row(cells){const tr=document.createElement("tr");for(const c of cells){const td=document.createElement("td");td.textContent=c.text;if(c.cls)td.className=c.cls;tr.appendChild(td);}return tr;}
        function show(s){
        text("updated",clock(s.timestamp));text("power-total",watts(s.power_watts.total));text("power-facility",watts(s.facility_power_watts));
        text("pue",num(s.pue,2));text("co2e",grams(s.co2e_grams));text("co2e-lbs",sig(s.co2e_lbs));text("intensity",num(s.grid_intensity_grams_per_kwh,1));
        text("intensity-source",s.grid_intensity_source);text("energy",kwh(s.energy_kwh));text("facility-energy",kwh(s.facility_energy_kwh));
        text("flights",sig(s.ny_sf_flights));text("cars",sig(s.car_lifetimes));
        for(const c of ["cpu","dram","gpu"]){text(c+"-power",watts(s.power_watts[c]));text(c+"-energy",kwh(s.energy_joules[c]/3.6e6));
        const measured=s.measured_components.includes(c);const b=$(c+"-kind");
        if(b){const k=measured?["measured","measured"]:c==="gpu"?["none","none"]:["estimated","estimate"];b.textContent=k[0];b.className="badge "+k[1];}
        spark(c+"-spark",s.history[c]);}
        const sources=$("sources").tBodies[0];sources.replaceChildren(...s.sources.map(x=>row([{text:x.name},{text:x.up?"up":"down",cls:x.up?"up":"down"},{text:x.measured?"measured":"estimate"},{text:String(x.errors)}])));
        $("workloads-card").hidden=!s.attribution;$("no-workloads").hidden=s.workloads.length>0;
        $("workloads").tBodies[0].replaceChildren(...s.workloads.map(w=>row([{text:w.kind},{text:w.name},{text:watts(w.power_watts)},{text:kwh(w.energy_joules/3.6e6)},{text:grams(w.co2e_grams)}])));
        document.title="footprint_exporter · "+watts(s.power_watts.total)+" · "+grams(s.co2e_grams)+" CO2e";
        document.body.dataset.refreshed=String(s.timestamp);}
        async function refresh(){try{const r=await fetch("/api/v1/summary",{cache:"no-store"});if(r.ok)show(await r.json());}catch(e){}}
        refresh();setInterval(refresh,3000);
        })();
        """
}

/// Numbers as the page shows them, with units that scale (W/kW, Wh/kWh/MWh, g/kg/t); the script formats alike.
enum Format {
    /// `value` with `decimals` digits after the point, rounded exactly as JavaScript's `toFixed` rounds (the exact
    /// decimal value of the double, ties to the larger), so the page's script never changes a number it takes over.
    static func number(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "–" }
        let magnitude = abs(value)
        var scale: UInt128 = 1
        for _ in 0..<decimals { scale *= 10 }
        var units: UInt128
        if magnitude >= 9_007_199_254_740_992 {  // 2⁵³: already an integer
            units = UInt128(magnitude) * scale
        } else if magnitude < 1e-30 {
            units = 0  // zero, subnormals and anything else that rounds to 0 at up to 12 decimals
        } else {
            // magnitude = significand × 2^exponent exactly; units = round(significand × 10^d / 2^-exponent).
            let exponent = Int(magnitude.exponent) - 52
            let significand = UInt128(magnitude.significandBitPattern | 1 << 52)
            let scaled = significand * scale
            if exponent >= 0 {
                units = scaled << exponent
            } else if -exponent >= 127 {
                units = 0
            } else {
                let shift = -exponent
                units = scaled >> shift
                let remainder = scaled & ((1 << shift) - 1)
                if remainder >= (1 << (shift - 1)) { units += 1 }
            }
        }
        let sign = value < 0 && units > 0 ? "-" : ""
        let whole = units / scale
        guard decimals > 0 else { return "\(sign)\(whole)" }
        let digits = String(units % scale)
        return "\(sign)\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)"
    }

    /// About three significant digits for small values (0.00389), two decimals from 1 up: the paper's equivalents of
    /// one machine are tiny fractions that `number(v, 4)` would show as 0.0000.
    static func significant(_ value: Double) -> String {
        guard value.isFinite, value > 0 else { return value == 0 ? "0" : "–" }
        if value >= 1 { return number(value, 2) }
        return number(value, min(12, 2 - Int((log10(value)).rounded(.down))))
    }

    static func watts(_ watts: Double) -> String {
        watts >= 1000 ? "\(number(watts / 1000, 2)) kW" : "\(number(watts, 1)) W"
    }

    static func grams(_ grams: Double) -> String {
        grams >= 1e6
            ? "\(number(grams / 1e6, 3)) t" : grams >= 1000 ? "\(number(grams / 1000, 3)) kg" : "\(number(grams, 2)) g"
    }

    static func kwh(_ kwh: Double) -> String {
        kwh >= 1000
            ? "\(number(kwh / 1000, 3)) MWh" : kwh >= 1 ? "\(number(kwh, 3)) kWh" : "\(number(kwh * 1000, 2)) Wh"
    }

    /// `2026-11-30 07:05:09 UTC`.
    static func clock(_ unixSeconds: Double) -> String {
        guard unixSeconds > 0 else { return "–" }
        let seconds = Int64(unixSeconds)
        let days = seconds / 86_400
        let remainder = seconds % 86_400
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(year)-\(two(month))-\(two(day)) \(two(remainder / 3600)):\(two(remainder % 3600 / 60)):\(two(remainder % 60)) UTC"
    }
}
