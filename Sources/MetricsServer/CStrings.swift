import Glibc

/// C strings handed to libmicrohttpd for the life of a daemon (TLS key and certificates, priorities), wiped and
/// freed when it stops.
struct CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    mutating func add(_ text: String) -> UnsafeMutableRawPointer {
        let pointer = strdup(text)!
        pointers.append(pointer)
        return UnsafeMutableRawPointer(pointer)
    }

    mutating func free() {
        for pointer in pointers {
            memset(pointer, 0, strlen(pointer))  // key material does not linger in freed memory
            Glibc.free(pointer)
        }
        pointers = []
    }
}

extension Optional where Wrapped == String {
    func withOptionalCString<Result>(_ body: (UnsafePointer<CChar>?) -> Result) -> Result {
        switch self {
        case .some(let text): text.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
