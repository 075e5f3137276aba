import Crypto
import CryptoExtras
import Foundation

/// A slow salted password hash (scrypt, from swift-crypto's CryptoExtras: BoringSSL's implementation, no
/// hand-written KDF) in a self-describing text form, for operator accounts and registered nicknames:
///
/// ```
///   scrypt$15$8$1$<salt, base64>$<32-byte key, base64>
///          │  │ └ parallelism
///          │  └ block size
///          └ log2 of the cost (rounds)
/// ```
///
/// The parameters travel with the hash, so a later default can change without invalidating old rows; when
/// checking, they are bounded (``Parameters/accepted``) so a row edited in the database cannot make one
/// check take gigabytes or minutes.
///
/// Blocking and CPU-heavy (about 50–150 ms and 32 MiB at the default): call on a pool thread, never on an
/// event loop. The password is never part of an error, a log line or a description.
public enum PasswordHash {
    /// scrypt's cost parameters.
    public struct Parameters: Sendable, Equatable {
        /// log2 of N, the CPU/memory cost.
        public var logRounds: Int
        /// r, the block size.
        public var blockSize: Int
        /// p, the parallelism.
        public var parallelism: Int

        public init(logRounds: Int, blockSize: Int, parallelism: Int) {
            self.logRounds = logRounds
            self.blockSize = blockSize
            self.parallelism = parallelism
        }

        /// N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s a check here; RFC 7914's interactive-login choice
        /// doubled. New hashes use this.
        public static let `default` = Parameters(logRounds: 15, blockSize: 8, parallelism: 1)

        /// Whether a stored hash's parameters may be used to check a password: N from 2^10 to 2^20, r from 1
        /// to 32, p from 1 to 4 (at most 1 GiB and a few seconds), so an edited row cannot exhaust the server.
        public var accepted: Bool {
            (10...20).contains(logRounds) && (1...32).contains(blockSize) && (1...4).contains(parallelism)
                && (128 << logRounds) * blockSize * parallelism <= 1 << 30
        }
    }

    /// Longest password accepted, in bytes (scrypt itself takes any length; this keeps a hostile line from
    /// costing more than a normal one).
    public static let maximumPasswordBytes = 256
    static let saltBytes = 16
    static let keyBytes = 32

    /// Hashes `password` with a fresh random salt. Throws for an empty or over-long password.
    public static func make(_ password: String, parameters: Parameters = .default) throws(PasswordError) -> String {
        try check(password)
        guard parameters.accepted else { throw PasswordError.unacceptedParameters }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let key = try derive(password, salt: salt, parameters: parameters)
        return ["scrypt", String(parameters.logRounds), String(parameters.blockSize), String(parameters.parallelism),
                Data(salt).base64EncodedString(), Data(key).base64EncodedString()].joined(separator: "$")
    }

    /// Whether `password` is the one `encoded` was made from. `false` for a wrong password, an empty or
    /// over-long one, and for a malformed hash or one whose parameters are not ``Parameters/accepted``
    /// (never a crash, never a match). Compares in constant time.
    public static func verify(_ password: String, against encoded: String) -> Bool {
        guard (try? check(password)) != nil, let stored = parse(encoded),
            let key = try? derive(password, salt: stored.salt, parameters: stored.parameters)
        else { return false }
        guard key.count == stored.key.count else { return false }
        var difference: UInt8 = 0
        for index in key.indices { difference |= key[index] ^ stored.key[index] }
        return difference == 0
    }

    /// The parameters of a well-formed hash (for tests and for deciding to rehash), else `nil`.
    public static func parameters(of encoded: String) -> Parameters? { parse(encoded)?.parameters }

    private static func check(_ password: String) throws(PasswordError) {
        // Empty is refused outright: CryptoExtras force-unwraps the password's base address.
        guard !password.isEmpty else { throw PasswordError.empty }
        guard password.utf8.count <= maximumPasswordBytes else { throw PasswordError.tooLong }
    }

    private static func parse(_ encoded: String) -> (parameters: Parameters, salt: [UInt8], key: [UInt8])? {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "scrypt", let logRounds = Int(fields[1]), let blockSize = Int(fields[2]),
            let parallelism = Int(fields[3]), let salt = Data(base64Encoded: String(fields[4])),
            let key = Data(base64Encoded: String(fields[5])), !salt.isEmpty, key.count == keyBytes
        else { return nil }
        let parameters = Parameters(logRounds: logRounds, blockSize: blockSize, parallelism: parallelism)
        guard parameters.accepted else { return nil }
        return (parameters, Array(salt), Array(key))
    }

    private static func derive(_ password: String, salt: [UInt8], parameters: Parameters) throws(PasswordError) -> [UInt8] {
        do {
            let key = try KDF.Scrypt.deriveKey(
                from: Array(password.utf8), salt: salt, outputByteCount: keyBytes,
                rounds: 1 << parameters.logRounds, blockSize: parameters.blockSize,
                parallelism: parameters.parallelism)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw PasswordError.derivationFailed
        }
    }
}

/// Why a password could not be hashed. Carries no part of the password.
public enum PasswordError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong
    case unacceptedParameters
    case derivationFailed

    public var description: String {
        switch self {
        case .empty: return "the password is empty"
        case .tooLong: return "the password is too long (max \(PasswordHash.maximumPasswordBytes) bytes)"
        case .unacceptedParameters: return "scrypt parameters out of the accepted range"
        case .derivationFailed: return "scrypt failed (out of memory?)"
        }
    }
}
