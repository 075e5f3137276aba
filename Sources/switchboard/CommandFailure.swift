import ArgumentParser
import Foundation
import SwitchboardDatabase

/// Turns a database failure into one clear line on stderr and exit status 1.
enum CommandFailure {
    static func report(_ error: DatabaseError) -> ExitCode {
        FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
        return ExitCode(1)
    }
}
