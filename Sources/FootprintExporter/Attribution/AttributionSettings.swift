import Workloads

/// How node energy is split between workloads.
public struct AttributionSettings: Sendable, Hashable {
    /// Idle energy follows the busy shares (`true`, the default: a job alone on a node pays for the node), or stays
    /// unattributed (`false`, Kepler's semantics: only the active part is shared out).
    public var idleFollowsShares: Bool
    /// How long a vanished workload keeps its series.
    public var retentionSeconds: Double
    /// Workloads tracked at once.
    public var maximumWorkloads: Int

    public init(idleFollowsShares: Bool, retentionSeconds: Double, maximumWorkloads: Int) {
        self.idleFollowsShares = idleFollowsShares
        self.retentionSeconds = retentionSeconds
        self.maximumWorkloads = maximumWorkloads
    }
}

extension ExporterConfiguration {
    /// The attribution settings, or nil when attribution is off.
    public var attribution: AttributionSettings? {
        guard self.attributionEnabled else { return nil }
        return AttributionSettings(
            idleFollowsShares: self.attributionIdle == "share",
            retentionSeconds: Double(self.attributionRetention.components.seconds)
                + Double(self.attributionRetention.components.attoseconds) / 1e18,
            maximumWorkloads: self.attributionMaximumWorkloads)
    }

    /// The workload kinds to recognise.
    public var workloadKinds: Set<WorkloadKind> {
        Set(self.attributionKinds.compactMap(WorkloadKind.init(rawValue:)))
    }
}
