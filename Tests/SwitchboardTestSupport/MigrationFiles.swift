import Foundation

/// The migration files in the repository's `Migrations/` folder, described independently of the code under
/// test: version and name from the file name, checksum from `sha256sum` on the file's bytes.
public struct MigrationFile: Equatable, Sendable {
    public var version: Int
    public var name: String
    /// SHA-256 of the file, lowercase hex, as `sha256sum` prints it.
    public var sha256: String

    /// Every `NNNN_name.sql` in `Migrations/DIALECT` (`sqlite` or `postgres`), in version order.
    public static func all(dialect: String) throws -> [MigrationFile] {
        let folder = TestPaths.repositoryRoot.appendingPathComponent("Migrations").appendingPathComponent(dialect)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        return try names.map { file in
            let stem = file.dropLast(".sql".count)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw ChildProcessError(description: "migration file \(file) is not named NNNN_name.sql")
            }
            let sum = try ChildProcess.run("sha256sum", [folder.appendingPathComponent(file).path], timeout: 30)
            guard sum.status == 0, let hex = sum.output.split(separator: " ").first, hex.count == 64 else {
                throw ChildProcessError(description: "sha256sum \(file) failed: \(sum)")
            }
            return MigrationFile(
                version: version, name: String(stem[stem.index(after: underscore)...]), sha256: String(hex))
        }
    }
}
