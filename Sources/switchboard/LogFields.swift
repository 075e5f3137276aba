import Logging

/// A log event's metadata as swift-log's handlers merge it: the logger's, the provider's, the event's,
/// and the error's message and type when one is attached.
enum LogFields {
    static func merge(_ base: Logger.Metadata, _ provider: Logger.MetadataProvider?, _ event: LogEvent) -> Logger.Metadata {
        // The common case (a connection's accept and close): only the event's own fields, nothing to merge.
        if base.isEmpty, provider == nil, event.error == nil { return event.metadata ?? [:] }
        var metadata = base
        if let provided = provider?.get(), !provided.isEmpty {
            metadata.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            metadata.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            metadata["error.message"] = "\(error)"
            metadata["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return metadata
    }
}
