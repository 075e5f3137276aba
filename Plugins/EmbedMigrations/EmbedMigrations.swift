import Foundation
import PackagePlugin

/// Compiles `Migrations/<dialect>/NNNN_name.sql` into the target as byte arrays, so the binary carries its
/// migrations and runs from any directory. The folder is listed on every build, so a new file is picked up
/// without touching Package.swift.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let tool = try context.tool(named: "switchboard-embed-migrations")
        let folder = context.package.directoryURL.appending(path: "Migrations")
        let files = (try FileManager.default.subpathsOfDirectory(atPath: folder.path))
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) migration files",
                executable: tool.url,
                arguments: [output.path] + files.map { folder.appending(path: $0).path },
                inputFiles: files.map { folder.appending(path: $0) },
                outputFiles: [output]
            )
        ]
    }
}
