/// Versions of the JSON documents this module writes. Bump on any incompatible change and
/// document it in `reports/SCHEMA-run.md`.
public enum ReportSchema {
    /// Version of the workload run document (`offheap bench|stress --json`).
    public static let runDocumentVersion = 1
}
