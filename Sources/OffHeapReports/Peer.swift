import Foundation

/// The allocators a run compares against: glibc in-process, the others through
/// `LD_PRELOAD` of Debian's packages (the CLI re-executes itself once per peer).
///
/// A peer's library is found by its soname in this machine's multiarch library directory
/// (`/usr/lib/x86_64-linux-gnu`, `/usr/lib/aarch64-linux-gnu`, …), never by a fixed
/// x86-64 path, so the same binary works on an arm64 runner; ``PeerLibraries`` adds
/// `--peer-library NAME=PATH` overrides.
///
/// ```swift
/// let peers = try Peer.parseList("jemalloc,glibc")   // [.jemalloc, .glibc]
/// Peer.jemalloc.soname                                // "libjemalloc.so.2"
/// ```
public enum Peer: String, CaseIterable, Sendable {
    case glibc, jemalloc, mimalloc, tcmalloc

    /// The shared object to preload (`nil` for glibc, which is always there).
    public var soname: String? {
        switch self {
        case .glibc: return nil
        case .jemalloc: return "libjemalloc.so.2"
        case .mimalloc: return "libmimalloc.so.2"
        case .tcmalloc: return "libtcmalloc_minimal.so.4"
        }
    }

    /// The installed library found by soname in the default search directories (see
    /// ``PeerLibraries``), `nil` for glibc or when it is not installed.
    public var library: String? { PeerLibraries().path(for: self) }

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

/// Where the peers' libraries are: `--peer-library NAME=PATH` overrides, else the first
/// directory of ``searchDirectories`` that holds the peer's soname.
///
/// ```swift
/// var libraries = PeerLibraries()
/// try libraries.addOverride("jemalloc=/opt/jemalloc/lib/libjemalloc.so.2")
/// libraries.path(for: .jemalloc)      // "/opt/jemalloc/lib/libjemalloc.so.2" if it exists
/// ```
public struct PeerLibraries: Sendable {
    /// Debian's multiarch triplet of the architecture this binary was built for.
    public static var multiarchTriplet: String {
        #if arch(x86_64)
        return "x86_64-linux-gnu"
        #elseif arch(arm64)
        return "aarch64-linux-gnu"
        #elseif arch(riscv64)
        return "riscv64-linux-gnu"
        #else
        return "unknown-linux-gnu"
        #endif
    }

    /// The multiarch directories first (what Debian's packages install), then the
    /// traditional ones.
    public static var defaultSearchDirectories: [String] {
        ["/usr/lib/\(multiarchTriplet)", "/lib/\(multiarchTriplet)", "/usr/local/lib",
         "/usr/lib64", "/usr/lib"]
    }

    public var searchDirectories: [String]
    public private(set) var overrides: [Peer: String] = [:]
    /// Whether a file exists (replaceable in tests).
    public var fileExists: @Sendable (String) -> Bool

    public init(
        searchDirectories: [String] = PeerLibraries.defaultSearchDirectories,
        fileExists: @escaping @Sendable (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }
    ) {
        self.searchDirectories = searchDirectories
        self.fileExists = fileExists
    }

    /// Adds one `NAME=PATH` override (`--peer-library`). glibc cannot be overridden (it is
    /// the in-process baseline, never preloaded).
    public mutating func addOverride(_ text: String) throws {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw PeerError.badLibraryOption(text)
        }
        let name = String(text[..<equals])
        let path = String(text[text.index(after: equals)...])
        guard let peer = Peer(rawValue: name) else { throw PeerError.unknown(name) }
        guard peer != .glibc, !path.isEmpty else { throw PeerError.badLibraryOption(text) }
        overrides[peer] = path
    }

    /// The library to preload for `peer`: its override when given and present, else the
    /// first search directory holding its soname; `nil` for glibc or when not installed.
    public func path(for peer: Peer) -> String? {
        if let path = overrides[peer] { return fileExists(path) ? path : nil }
        guard let soname = peer.soname else { return nil }
        for directory in searchDirectories {
            let candidate = directory.hasSuffix("/") ? directory + soname : directory + "/" + soname
            if fileExists(candidate) { return candidate }
        }
        return nil
    }

    /// Where `peer` was looked for, for an error message.
    public func describeSearch(for peer: Peer) -> String {
        if let path = overrides[peer] { return path }
        guard let soname = peer.soname else { return "glibc" }
        return "\(soname) in \(searchDirectories.joined(separator: ", "))"
    }

    /// The peers of `requested` that can run here: glibc always; a preloaded peer when its
    /// library is found. With `onlyInstalled` (`--peers all`) a missing library skips the
    /// peer (listed in `skipped`); otherwise a peer named explicitly but not installed is a
    /// ``PeerError/missingLibrary(_:)``.
    public func resolve(
        _ requested: [Peer], onlyInstalled: Bool
    ) throws -> (run: [(peer: Peer, library: String?)], skipped: [Peer]) {
        var run: [(peer: Peer, library: String?)] = []
        var skipped: [Peer] = []
        for peer in requested {
            if peer == .glibc {
                run.append((peer, nil))
            } else if let path = path(for: peer) {
                run.append((peer, path))
            } else if onlyInstalled && overrides[peer] == nil {
                skipped.append(peer)
            } else {
                throw PeerError.missingLibrary(describeSearch(for: peer))
            }
        }
        return (run, skipped)
    }
}

public enum PeerError: Error, CustomStringConvertible {
    case unknown(String)
    case missingLibrary(String)
    case badLibraryOption(String)
    case childFailed(peer: String, status: Int32)

    public var description: String {
        switch self {
        case .unknown(let name): return "unknown peer '\(name)' (glibc, jemalloc, mimalloc, tcmalloc, all, none)"
        case .missingLibrary(let where_): return "peer library not installed: \(where_)"
        case .badLibraryOption(let text): return "--peer-library needs NAME=PATH with NAME jemalloc, mimalloc or tcmalloc, not '\(text)'"
        case .childFailed(let peer, let status): return "peer run '\(peer)' failed with status \(status)"
        }
    }
}
