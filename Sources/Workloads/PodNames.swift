import PowerSources

/// Pod names from the kubelet's log directory (`/var/log/pods/<namespace>_<pod>_<uid>/`): directory names alone,
/// no file is opened, and no API server is asked.
public enum PodNames {
    /// Namespace and pod name by pod UID.
    public static func read(directory: String) -> [String: (namespace: String, pod: String)] {
        var names: [String: (namespace: String, pod: String)] = [:]
        for entry in (try? AttributeFile.listSubdirectories(directory)) ?? [] {
            // Namespaces and pod names are DNS labels and subdomains: they hold no underscore.
            let parts = entry.split(separator: "_", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { continue }
            names[String(parts[2])] = (String(parts[0]), String(parts[1]))
        }
        return names
    }
}
