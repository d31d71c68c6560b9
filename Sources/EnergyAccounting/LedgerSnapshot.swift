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
        /// Which physical counter it was read from (RAPL's zone directory); absent in older files.
        public var counterIdentity: String?

        public init(
            source: String, domain: String, device: String, microjoules: Double, counterMicrojoules: UInt64?,
            observedBootSeconds: Double?, counterIdentity: String? = nil
        ) {
            self.source = source
            self.domain = domain
            self.device = device
            self.microjoules = microjoules
            self.counterMicrojoules = counterMicrojoules
            self.observedBootSeconds = observedBootSeconds
            self.counterIdentity = counterIdentity
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

    /// The most domains a snapshot may hold. A node has tens (sockets × zones + GPUs); a file with more was not
    /// written by a working exporter, and restoring it would keep every one as a series for good.
    public static let maximumDomains = 4096

    /// The largest total any counter may hold, in microjoules: 10 PJ, a 1 MW load for over three centuries.
    public static let maximumMicrojoules = 1e22

    /// Checks the snapshot is internally sound: a bounded number of domains, finite, non-negative totals within
    /// range, and known components.
    public var isValid: Bool {
        guard domains.count <= Self.maximumDomains else { return false }
        guard
            domains.allSatisfy({ $0.microjoules <= Self.maximumMicrojoules })
                && components.allSatisfy({ $0.itMicrojoules <= Self.maximumMicrojoules })
        else { return false }
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
                    counterMicrojoules: account.lastCounterMicrojoules,
                    observedBootSeconds: account.lastObservedSeconds,
                    counterIdentity: account.counterIdentity)
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
    /// only the totals are kept and the first reading is a new baseline. A baseline observed after `nowBootSeconds`
    /// is impossible (a file from the future would lift the power ceiling's elapsed time): it is dropped too.
    public init(restoring snapshot: LedgerSnapshot, sameBoot: Bool, nowBootSeconds: Double) {
        self.init()
        for entry in snapshot.domains {
            var account = DomainAccount()
            account.microjoules = entry.microjoules
            if sameBoot, let counter = entry.counterMicrojoules, let observed = entry.observedBootSeconds,
                observed <= nowBootSeconds
            {
                account.lastCounterMicrojoules = counter
                account.lastObservedSeconds = observed
                account.counterIdentity = entry.counterIdentity
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
