/// One migration file as compiled into the binary by the `EmbedMigrations` plugin.
struct EmbeddedMigrationFile: Sendable {
    var dialect: String
    var fileName: String
    var bytes: [UInt8]
}

/// One schema step: `Migrations/<dialect>/NNNN_name.sql`, applied once, in version order, each in its own
/// transaction, and recorded in `schema_migrations` with the SHA-256 of the file's bytes.
public struct Migration: Sendable, Equatable {
    /// The number the file name starts with.
    public var version: Int
    /// The rest of the file name, without `.sql`.
    public var name: String
    /// The file's SQL, run as one script.
    public var sql: String
    /// SHA-256 of the file's bytes, lowercase hex.
    public var checksum: String

    /// Every migration for `dialect` compiled into this binary, in version order.
    public static func all(for dialect: SQLDialect) -> [Migration] {
        embeddedFiles
            .filter { $0.dialect == dialect.rawValue }
            .compactMap { file -> Migration? in
                let stem = file.fileName.hasSuffix(".sql") ? String(file.fileName.dropLast(4)) : file.fileName
                let digits = stem.prefix(while: \.isNumber)
                guard let version = Int(digits) else { return nil }
                var name = stem.dropFirst(digits.count)
                if name.first == "_" { name = name.dropFirst() }
                return Migration(
                    version: version, name: String(name),
                    sql: String(decoding: file.bytes, as: UTF8.self),
                    checksum: SHA256.hexDigest(file.bytes)
                )
            }
            .sorted { $0.version < $1.version }
    }
}
