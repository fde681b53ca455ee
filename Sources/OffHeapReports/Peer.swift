/// The allocators a run compares against: glibc in-process, the others through
/// `LD_PRELOAD` of Debian's packages (the CLI re-executes itself once per peer).
public enum Peer: String, CaseIterable, Sendable {
    case glibc, jemalloc, mimalloc, tcmalloc

    /// The shared library to preload (`nil` for glibc, which is always there).
    public var library: String? {
        switch self {
        case .glibc: return nil
        case .jemalloc: return "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
        case .mimalloc: return "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
        case .tcmalloc: return "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
        }
    }

    /// Parses `all`, `none` or a comma-separated list.
    public static func parseList(_ text: String) throws -> [Peer] {
        if text == "all" { return allCases }
        if text == "none" || text.isEmpty { return [] }
        var peers: [Peer] = []
        for part in text.split(separator: ",") {
            guard let peer = Peer(rawValue: String(part)) else {
                throw PeerError.unknown(String(part))
            }
            if !peers.contains(peer) { peers.append(peer) }
        }
        return peers
    }
}

public enum PeerError: Error, CustomStringConvertible {
    case unknown(String)
    case missingLibrary(String)
    case childFailed(peer: String, status: Int32)

    public var description: String {
        switch self {
        case .unknown(let name): return "unknown peer '\(name)' (glibc, jemalloc, mimalloc, tcmalloc, all, none)"
        case .missingLibrary(let path): return "peer library not installed: \(path)"
        case .childFailed(let peer, let status): return "peer run '\(peer)' failed with status \(status)"
        }
    }
}
