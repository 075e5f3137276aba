/// The SQL dialects Switchboard stores history in. Migrations and statements are written once per dialect.
public enum SQLDialect: String, Sendable, CaseIterable {
    case sqlite
    case postgres
}
