/// Everything the ledger needs to continue after a restart: totals, and each counter's last raw reading.
public struct LedgerSnapshot: Sendable, Hashable, Codable {
    /// One domain's total and baseline.
    public struct Domain: Sendable, Hashable, Codable {
        public var source: String
        public var domain: String
        public var device: String
        public var microjoules: Double
        /// The last good raw counter reading; nil for power-integrated domains.
        public var counterMicrojoules: UInt64?
        /// When it was read, in seconds since boot (CLOCK_BOOTTIME), comparable across restarts in one boot.
        public var observedBootSeconds: Double?

        public init(
            source: String, domain: String, device: String, microjoules: Double, counterMicrojoules: UInt64?,
            observedBootSeconds: Double?
        ) {
            self.source = source
            self.domain = domain
            self.device = device
            self.microjoules = microjoules
            self.counterMicrojoules = counterMicrojoules
            self.observedBootSeconds = observedBootSeconds
        }
    }

    /// One component's totals.
    public struct ComponentEntry: Sendable, Hashable, Codable {
        public var component: String
        public var itMicrojoules: Double
        public var facilityJoules: Double
        public var co2eGrams: Double

        public init(component: String, itMicrojoules: Double, facilityJoules: Double, co2eGrams: Double) {
            self.component = component
            self.itMicrojoules = itMicrojoules
            self.facilityJoules = facilityJoules
            self.co2eGrams = co2eGrams
        }
    }

    public var domains: [Domain]
    public var components: [ComponentEntry]
    public var measuredComponents: [String]

    public init(domains: [Domain], components: [ComponentEntry], measuredComponents: [String]) {
        self.domains = domains
        self.components = components
        self.measuredComponents = measuredComponents
    }

    /// Checks the snapshot is internally sound: finite, non-negative totals and known components.
    public var isValid: Bool {
        var numbers: [Double] = []
        for domain in domains { numbers += [domain.microjoules, domain.observedBootSeconds ?? 0] }
        for entry in components { numbers += [entry.itMicrojoules, entry.facilityJoules, entry.co2eGrams] }
        guard numbers.allSatisfy({ $0.isFinite && $0 >= 0 }) else { return false }
        guard components.allSatisfy({ Component(rawValue: $0.component) != nil }),
            measuredComponents.allSatisfy({ Component(rawValue: $0) != nil })
        else { return false }
        let keys = domains.map { DomainKey(source: $0.source, domain: $0.domain, device: $0.device) }
        return Set(keys).count == keys.count && Set(components.map(\.component)).count == components.count
    }
}

extension EnergyLedger {
    /// The ledger's state, for the state file.
    public func snapshot() -> LedgerSnapshot {
        LedgerSnapshot(
            domains: domains.keys.sorted().map { key in
                let account = domains[key]!
                return LedgerSnapshot.Domain(
                    source: key.source, domain: key.domain, device: key.device, microjoules: account.microjoules,
                    counterMicrojoules: account.lastCounterMicrojoules, observedBootSeconds: account.lastObservedSeconds
                )
            },
            components: Component.allCases.map { component in
                let totals = components[component] ?? ComponentTotals()
                return LedgerSnapshot.ComponentEntry(
                    component: component.rawValue, itMicrojoules: totals.itMicrojoules,
                    facilityJoules: totals.facilityJoules, co2eGrams: totals.co2eGrams)
            },
            measuredComponents: measuredComponents.sorted().map(\.rawValue))
    }

    /// A ledger that continues from `snapshot`.
    ///
    /// With `sameBoot`, counter baselines are kept, so the first reading after the restart adds the energy drawn
    /// while the exporter was down (under the usual plausibility rules); after a reboot the counters restarted, so
    /// only the totals are kept and the first reading is a new baseline.
    public init(restoring snapshot: LedgerSnapshot, sameBoot: Bool) {
        self.init()
        for entry in snapshot.domains {
            var account = DomainAccount()
            account.microjoules = entry.microjoules
            if sameBoot, let counter = entry.counterMicrojoules {
                account.lastCounterMicrojoules = counter
                account.lastObservedSeconds = entry.observedBootSeconds
            }
            restore(DomainKey(source: entry.source, domain: entry.domain, device: entry.device), account)
        }
        for entry in snapshot.components {
            guard let component = Component(rawValue: entry.component) else { continue }
            var totals = ComponentTotals()
            totals.itMicrojoules = entry.itMicrojoules
            totals.facilityJoules = entry.facilityJoules
            totals.co2eGrams = entry.co2eGrams
            restore(component, totals)
        }
        restoreMeasured(Set(snapshot.measuredComponents.compactMap(Component.init(rawValue:))))
    }
}
