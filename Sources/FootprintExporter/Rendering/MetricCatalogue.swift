/// The type of a metric family in the text exposition format.
public enum MetricType: String, Sendable {
    case counter, gauge
}

/// A metric family: name, type, help and the names of its labels.
public struct MetricFamily: Sendable, Hashable {
    public let name: String
    public let type: MetricType
    public let help: String
    public let labelNames: [String]
}

/// Every metric the exporter serves (docs/design.md §3). Nothing else names a metric.
public enum MetricCatalogue {
    public static let domainEnergy = MetricFamily(
        name: "footprint_domain_energy_joules_total", type: .counter,
        help: "Energy measured per source domain since the exporter started; domains may overlap, do not sum them.",
        labelNames: ["source", "domain", "device"])
    public static let domainPower = MetricFamily(
        name: "footprint_domain_power_watts", type: .gauge,
        help: "Power per source domain over the last sampling interval; domains may overlap, do not sum them.",
        labelNames: ["source", "domain", "device"])
    public static let energy = MetricFamily(
        name: "footprint_energy_joules_total", type: .counter,
        help: "IT energy drawn per component (cpu, dram, gpu); components never overlap.",
        labelNames: ["component"])
    public static let facilityEnergy = MetricFamily(
        name: "footprint_facility_energy_joules_total", type: .counter,
        help: "Facility energy per component: IT energy times the PUE in force when it was drawn.",
        labelNames: ["component"])
    public static let co2e = MetricFamily(
        name: "footprint_co2e_grams_total", type: .counter,
        help: "CO2-equivalent emitted per component: facility energy times the grid intensity in force.",
        labelNames: ["component"])
    public static let power = MetricFamily(
        name: "footprint_power_watts", type: .gauge,
        help: "IT power per component over the last sampling interval.",
        labelNames: ["component"])
    public static let pue = MetricFamily(
        name: "footprint_pue", type: .gauge,
        help: "Power Usage Effectiveness in force (facility energy / IT energy).", labelNames: [])
    public static let gridIntensity = MetricFamily(
        name: "footprint_grid_intensity_grams_per_kwh", type: .gauge,
        help: "Grid carbon intensity in force, in grams of CO2e per kWh.", labelNames: [])
    public static let gridIntensityInfo = MetricFamily(
        name: "footprint_grid_intensity_info", type: .gauge,
        help:
            "Where the grid intensity in force comes from, always 1: source is static, region, file, electricitymaps or uk-carbon-intensity; zone is its zone or region code.",
        labelNames: ["source", "zone"])
    public static let gridIntensityAge = MetricFamily(
        name: "footprint_grid_intensity_age_seconds", type: .gauge,
        help:
            "Seconds since the live source (intensity file or provider) delivered its last good value; absent until it has delivered one.",
        labelNames: [])
    public static let gridIntensityStale = MetricFamily(
        name: "footprint_grid_intensity_stale", type: .gauge,
        help:
            "1 when the live source's last value is older than --grid.provider.max-age or past its valid_until (the region preset stands in when set, else that value stays), else 0.",
        labelNames: [])
    public static let gridProviderErrors = MetricFamily(
        name: "footprint_grid_provider_errors_total", type: .counter,
        help:
            "Failed fetches of the grid intensity provider, or failed reads of the intensity file (provider=\"file\"), by reason; the value in force was kept.",
        labelNames: ["provider", "reason"])
    public static let embodiedCO2e = MetricFamily(
        name: "footprint_embodied_co2e_grams_total", type: .counter,
        help:
            "Embodied CO2e of the hardware (manufacturing; --embodied.*), amortised straight-line over its lifetime while the exporter runs; not part of footprint_co2e_grams_total.",
        labelNames: [])
    public static let co2eBudget = MetricFamily(
        name: "footprint_co2e_budget_grams", type: .gauge,
        help:
            "Configured emission budget: grams of CO2e allowed per window; scope is node for a budget of the whole node, node_embodied for one that also counts embodied CO2e (include_embodied), workloads for one with match:.",
        labelNames: ["budget", "window", "scope"])
    public static let budgetCO2e = MetricFamily(
        name: "footprint_budget_co2e_grams_total", type: .counter,
        help:
            "CO2-equivalent counted toward a budget, one series per budget name: the CO2e of the workloads its match: selects (the grams their footprint_workload_co2e_grams_total got), or of the whole node (all components) for a budget without match:.",
        labelNames: ["budget"])
    public static let sourceUp = MetricFamily(
        name: "footprint_source_up", type: .gauge,
        help: "Whether the source's last sample succeeded (1) or not (0).", labelNames: ["source"])
    public static let sampleErrors = MetricFamily(
        name: "footprint_sample_errors_total", type: .counter,
        help: "Failed reads by source.", labelNames: ["source"])
    public static let sourceDuration = MetricFamily(
        name: "footprint_source_duration_seconds", type: .gauge,
        help: "How long the source's last sample took.", labelNames: ["source"])
    public static let lastSample = MetricFamily(
        name: "footprint_last_sample_timestamp_seconds", type: .gauge,
        help: "Wall-clock time of the last completed sample, in seconds since the Unix epoch.", labelNames: [])
    public static let gpuInfo = MetricFamily(
        name: "footprint_gpu_info", type: .gauge,
        help: "GPU identity, always 1; join on device.", labelNames: ["device", "uuid", "name"])
    public static let buildInfo = MetricFamily(
        name: "footprint_build_info", type: .gauge,
        help: "Build identity, always 1.", labelNames: ["version", "revision"])
    public static let webConfigReloadFailures = MetricFamily(
        name: "footprint_web_config_reload_failures_total", type: .counter,
        help:
            "Web configuration reloads that failed or would have weakened security; the configuration in force was kept.",
        labelNames: [])

    public static let workloadEnergy = MetricFamily(
        name: "footprint_workload_energy_joules_total", type: .counter,
        help: "IT energy attributed to a workload (pod, Slurm job, systemd unit) per component.",
        labelNames: ["kind", "workload", "component"])
    public static let workloadFacilityEnergy = MetricFamily(
        name: "footprint_workload_facility_energy_joules_total", type: .counter,
        help: "Facility energy attributed to a workload: its IT energy times the PUE in force when drawn.",
        labelNames: ["kind", "workload"])
    public static let workloadCO2e = MetricFamily(
        name: "footprint_workload_co2e_grams_total", type: .counter,
        help: "CO2-equivalent attributed to a workload: its facility energy times the grid intensity in force.",
        labelNames: ["kind", "workload"])
    public static let workloadEmbodiedCO2e = MetricFamily(
        name: "footprint_workload_embodied_co2e_grams_total", type: .counter,
        help: "Embodied CO2e charged to a workload: each sample's share, by its part of the node's IT energy.",
        labelNames: ["kind", "workload"])
    public static let workloadInfo = MetricFamily(
        name: "footprint_workload_info", type: .gauge,
        help: "Workload identity, always 1; join on kind and workload.",
        labelNames: ["kind", "workload", "namespace", "pod", "job_id", "user", "unit", "sluid"])
    public static let unattributedEnergy = MetricFamily(
        name: "footprint_unattributed_energy_joules_total", type: .counter,
        help: "IT energy no workload took (system daemons, the kernel, idle under --attribution.idle=unattributed).",
        labelNames: ["component"])
    public static let expiredWorkloadEnergy = MetricFamily(
        name: "footprint_expired_workload_energy_joules_total", type: .counter,
        help: "IT energy of workloads whose series expired after --attribution.retention.", labelNames: ["component"])
    public static let workloads = MetricFamily(
        name: "footprint_workloads", type: .gauge, help: "Workloads tracked, by kind.", labelNames: ["kind"])
    public static let attributionOverflow = MetricFamily(
        name: "footprint_attribution_overflow_total", type: .counter,
        help: "Samples in which a workload beyond --attribution.max-workloads went unattributed.", labelNames: [])

    public static let all: [MetricFamily] = [
        domainEnergy, domainPower, energy, facilityEnergy, co2e, power, pue, gridIntensity, gridIntensityInfo,
        gridIntensityAge, gridIntensityStale, gridProviderErrors, embodiedCO2e, co2eBudget, budgetCO2e,
        sourceUp,
        sampleErrors, sourceDuration, lastSample, gpuInfo, buildInfo, workloadEnergy, workloadFacilityEnergy,
        workloadCO2e, workloadEmbodiedCO2e, workloadInfo, unattributedEnergy, expiredWorkloadEnergy, workloads,
        attributionOverflow,
        webConfigReloadFailures,
    ]
}
