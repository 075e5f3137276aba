import Foundation

/// A URL a client asked for, checked before anything is fetched: `http:` or `https:`, with a host.
///
/// ```
/// "http://example.com/"       ✓
/// "  HTTPS://example.com/a "  ✓  (surrounding spaces dropped; the scheme in any case)
/// "hello"                     ✗  .notAURL
/// "file:///etc/passwd"        ✗  .unsupportedScheme("file")
/// "gopher://example.com/"     ✗  .unsupportedScheme("gopher")
/// ```
/// AsyncHTTPClient would also fetch `unix:`, `http+unix:` and `https+unix:` URLs (a local socket path): they are
/// refused here like any scheme but the two, so a client of the proxy cannot reach the proxy host's sockets.
public struct PageURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL as the client wrote it, without surrounding whitespace: the cache's key.
    public let text: String

    /// Checks one line of a client's input.
    public init(parsing line: String) throws(FetchError) {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), !scheme.isEmpty else {
            throw .notAURL
        }
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(scheme) }
        guard let host = url.host, !host.isEmpty else { throw .notAURL }
        self.text = text
    }

    public var description: String { text }
}
