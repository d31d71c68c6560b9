import Dispatch
import Glibc
import Synchronization

/// User names by uid, resolved through NSS (which may ask LDAP or SSSD and block) on a queue of their own, never on
/// the sampling path: a uid not resolved yet reads as its number, and as its name from a later sample on.
public final class UserNames: Sendable {
    private let cache = Mutex<[UInt32: String]>([:])
    private let pending = Mutex<Set<UInt32>>([])
    private let queue = DispatchQueue(label: "footprint.usernames")

    public init() {}

    /// The name of `uid` if known, else its number (and a lookup is started).
    public func name(of uid: UInt32) -> String {
        if let name = cache.withLock({ $0[uid] }) { return name }
        let start = pending.withLock { $0.insert(uid).inserted }
        if start {
            queue.async { [self] in
                let resolved = Self.lookUp(uid) ?? String(uid)
                cache.withLock { $0[uid] = resolved }
            }
        }
        return String(uid)
    }

    /// Waits for lookups already started (tests).
    public func waitForLookups() { queue.sync {} }

    private static func lookUp(_ uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name
        else { return nil }
        return String(cString: name)
    }
}
