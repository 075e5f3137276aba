/// Brings a database's schema up to the migrations compiled into this binary.
///
/// Refuses (kind `migrationMismatch`) a database that records a migration this binary does not know, or one
/// whose recorded checksum differs from the file's: that database was made by another version of
/// Switchboard, and guessing would corrupt it. Runs on a pool thread (it blocks).
public struct Migrator: Sendable {
    public let migrations: [Migration]
    public let dialect: SQLDialect

    public init(dialect: SQLDialect, migrations: [Migration]? = nil) {
        self.dialect = dialect
        self.migrations = migrations ?? Migration.all(for: dialect)
    }

    /// What `migrate` did: the versions it applied now, and how many were already there.
    public struct Outcome: Sendable, Equatable {
        public var applied: [Migration]
        public var alreadyApplied: Int
    }

    /// Where a database stands, found without writing anything (see ``status(_:)``).
    public enum Status: Sendable, Equatable {
        /// No `schema_migrations` table: no Switchboard has migrated this database yet.
        case noSchema
        /// Migrations this binary knows that the database lacks, in order.
        case pending([Migration])
        /// Every migration is applied.
        case upToDate
    }

    /// Reads where the database stands; runs no DDL and writes nothing, so a role or file with read access
    /// only will do. Throws kind `migrationMismatch`, as ``migrate(_:)`` does, for a database made by
    /// another version of Switchboard.
    public func status(_ connection: any DatabaseConnection) throws(DatabaseError) -> Status {
        let exists = try connection.fetch(tableExistsSQL, []).firstRow?.decode("tables", as: Int64.self) ?? 0
        guard exists > 0 else { return .noSchema }
        let done = try recordedVersions(connection)
        let pending = migrations.filter { !done.contains($0.version) }
        return pending.isEmpty ? .upToDate : .pending(pending)
    }

    /// The PostgreSQL advisory lock migrators take, so servers started together (`docker compose up`, a
    /// cluster's hosts) migrate one after the other instead of racing to create the same tables.
    static let postgresLockKey: Int64 = 0x5377_6974_6368  // "Switch"

    /// Applies every pending migration, each in its own transaction. On PostgreSQL it holds a session
    /// advisory lock throughout: a second migrator waits, then finds the migrations applied.
    public func migrate(_ connection: any DatabaseConnection) throws(DatabaseError) -> Outcome {
        guard connection.dialect == .postgres else { return try migrateUnlocked(connection) }
        try connection.fetch("SELECT pg_advisory_lock($1)", [.integer(Migrator.postgresLockKey)])
        do {
            let outcome = try migrateUnlocked(connection)
            try connection.fetch("SELECT pg_advisory_unlock($1)", [.integer(Migrator.postgresLockKey)])
            return outcome
        } catch {
            // A broken connection lets go of the lock by itself; on a working one, let go now.
            _ = try? connection.fetch("SELECT pg_advisory_unlock($1)", [.integer(Migrator.postgresLockKey)])
            throw error
        }
    }

    private func migrateUnlocked(_ connection: any DatabaseConnection) throws(DatabaseError) -> Outcome {
        try connection.executeScript(createTableSQL)
        let done = try recordedVersions(connection)
        var applied: [Migration] = []
        for migration in migrations where !done.contains(migration.version) {
            try connection.transaction { connection throws(DatabaseError) in
                try connection.executeScript(migration.sql)
                try connection.query(insertSQL, [
                    .integer(Int64(migration.version)), .text(migration.name), .text(migration.checksum),
                    .text(Timestamp.now().iso8601),
                ])
            }
            applied.append(migration)
        }
        return Outcome(applied: applied, alreadyApplied: done.count)
    }

    /// The versions recorded in `schema_migrations`, after checking each is one this binary knows, with the
    /// same checksum.
    private func recordedVersions(_ connection: any DatabaseConnection) throws(DatabaseError) -> Set<Int> {
        let recorded = try connection.fetch(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version", []
        ).decodeRows { row throws(DatabaseError) in
            (version: try row.decode("version", as: Int.self), name: try row.decode("name", as: String.self),
             checksum: try row.decode("checksum", as: String.self))
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for row in recorded {
            guard let migration = known[row.version] else {
                throw DatabaseError(
                    .migrationMismatch,
                    message: "the database has migration \(row.version) (\(row.name)) that this "
                        + "switchboard does not know; it was made by a newer version — refusing to use it")
            }
            guard row.checksum == migration.checksum else {
                throw DatabaseError(
                    .migrationMismatch,
                    message: "migration \(row.version) (\(migration.name)) recorded in the database has checksum "
                        + "\(row.checksum) but this switchboard's file has \(migration.checksum); "
                        + "the migration file was changed after it was applied — refusing to use the database")
            }
        }
        return Set(recorded.map(\.version))
    }

    private var tableExistsSQL: String {
        switch dialect {
        case .sqlite:
            return "SELECT count(*) AS tables FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        case .postgres:
            return "SELECT count(*) AS tables FROM pg_catalog.pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()"
        }
    }

    private var createTableSQL: String {
        switch dialect {
        case .sqlite:
            return """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)
                """
        case .postgres:
            return """
                SET client_min_messages = warning;
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL)
                """
        }
    }

    private var insertSQL: String {
        switch dialect {
        case .sqlite: return "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)"
        case .postgres: return "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"
        }
    }
}
