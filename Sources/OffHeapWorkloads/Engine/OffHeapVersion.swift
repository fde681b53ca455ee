/// The version of swift-offheap's programs (`offheap --version`, `offheap-engine --version`).
///
/// ```swift
/// print(OffHeapVersion.current)   // "0.1.0-dev"
/// ```
public enum OffHeapVersion {
    /// The one place the version is written; CHANGELOG.md's heading names the same.
    public static let current = "0.1.0-dev"
}
