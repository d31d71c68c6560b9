/// A non-overlapping part of a node's IT power. Summing the components never double counts.
public enum Component: String, Sendable, Hashable, CaseIterable, Comparable {
    case cpu, dram, gpu

    public static func < (lhs: Component, rhs: Component) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The key of a measured domain, as the accounting sees it: plain strings, so this module depends on no reader.
public struct DomainKey: Sendable, Hashable, Comparable {
    public let source: String
    public let domain: String
    public let device: String

    public init(source: String, domain: String, device: String) {
        self.source = source
        self.domain = domain
        self.device = device
    }

    public static func < (lhs: DomainKey, rhs: DomainKey) -> Bool {
        (lhs.source, lhs.domain, lhs.device.count, lhs.device) < (rhs.source, rhs.domain, rhs.device.count, rhs.device)
    }
}

/// Decides which component, if any, a domain's energy counts toward (docs/design.md §1).
///
/// `package` → cpu, `dram` → dram, `gpu` → gpu. `core` and `uncore` lie inside the package and `psys` contains package
/// and DRAM, so they count toward nothing. Estimated domains count only toward components no measuring source covers.
public enum ComponentRule {
    public static let estimateSource = "estimate"

    /// The component `key` counts toward, given the components a measuring source already covers.
    public static func component(of key: DomainKey, measuredComponents: Set<Component>) -> Component? {
        let component: Component? =
            switch key.domain {
            case "package": .cpu
            case "dram": .dram
            case "gpu": .gpu
            default: nil
            }
        guard let component else { return nil }
        if key.source == estimateSource && measuredComponents.contains(component) { return nil }
        return component
    }

    /// The component a *measuring* (non-estimate) domain covers, so the estimate steps aside for it.
    public static func coveredComponent(by key: DomainKey) -> Component? {
        guard key.source != estimateSource else { return nil }
        return component(of: key, measuredComponents: [])
    }
}
