import Foundation
import NIOCore

/// The page, its styles and scripts, embedded in the binary at build time (`Assets/`, SwiftPM's
/// `embedInCode`): nothing is read from disk when serving, so no request path can reach a file.
enum WebAssets {
    struct Asset {
        var contentType: String
        var body: ByteBuffer
    }

    /// The marker in `index.html` that becomes `--max-line` (the page checks a line's length before sending it;
    /// a longer WebSocket frame closes the connection).
    static let maximumLineMarker = "data-max-line=\"1024\""

    /// Exact request paths (no normalisation: `/./chat.js` or `/%63hat.js` is not found).
    static func byPath(maximumLineLength: Int) -> [String: Asset] {
        var assets = fixed
        let page = String(decoding: PackageResources.index_html, as: UTF8.self)
            .replacingOccurrences(of: maximumLineMarker, with: "data-max-line=\"\(maximumLineLength)\"")
        assets["/"] = Asset(contentType: "text/html; charset=utf-8", body: ByteBuffer(string: page))
        return assets
    }

    private static let fixed: [String: Asset] = [
        "/stats": Asset(contentType: "text/html; charset=utf-8", body: ByteBuffer(bytes: PackageResources.stats_html)),
        "/chat.js": Asset(contentType: "text/javascript; charset=utf-8", body: ByteBuffer(bytes: PackageResources.chat_js)),
        "/stats.js": Asset(contentType: "text/javascript; charset=utf-8", body: ByteBuffer(bytes: PackageResources.stats_js)),
        "/style.css": Asset(contentType: "text/css; charset=utf-8", body: ByteBuffer(bytes: PackageResources.style_css)),
    ]
}
