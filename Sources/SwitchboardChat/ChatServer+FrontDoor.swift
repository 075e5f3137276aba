import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwitchboardProtocol
import SwitchboardDatabase

/// The server's front door: certificates of `ssl:` endpoints (loaded at start, reloaded on SIGHUP and by a
/// periodic check), the pipeline each listener puts before its sessions, and the summary of connections
/// turned away.
extension ChatServer {
    /// How often the count of connections turned away at the front door is logged, when it changed.
    static let frontDoorSummaryInterval: TimeAmount = .seconds(60)

    /// Loads the certificate of every `ssl:` endpoint, off the event loops. A file that cannot be used stops
    /// the start with one line naming it (``TLSLoadError``).
    func loadCertificates() async throws {
        state.withLockedValue { $0.trustedProxies = configuration.trustedProxies }
        var stores: [TLSFiles: TLSCertificateStore] = [:]
        // The attachments' (the web listener's) are loaded, reloaded and logged like the chat's.
        let attached = state.withLockedValue { $0.attachments.flatMap(\.certificateFiles) }
        for files in configuration.endpoints.compactMap(\.tlsFiles) + attached {
            guard stores[files] == nil else { continue }
            let store = try await NIOThreadPool.singleton.runIfActive { try TLSCertificateStore(loading: files) }
            stores[files] = store
            logCertificate(store, "TLS certificate loaded", level: .info)
        }
        state.withLockedValue { $0.certificates = stores }
    }

    /// The pipeline `endpoint`'s listener builds for each connection.
    func frontDoorPipeline(for endpoint: Endpoint) -> FrontDoorPipeline {
        let certificates = endpoint.tlsFiles.flatMap { files in state.withLockedValue { $0.certificates[files] } }
        return FrontDoorPipeline(
            endpoint: endpoint, certificates: certificates, trustedProxies: { [state] in state.withLockedValue { $0.trustedProxies } },
            handshakeTimeout: configuration.tlsHandshakeTimeout, counters: frontDoorCounters, logger: logger)
    }

    /// Reads every `ssl:` endpoint's certificate files again (off the event loops) and gives new connections
    /// what changed; connections already open keep theirs. `force` (SIGHUP) reloads even unchanged files
    /// and reports a failure again. Logs each outcome: a new certificate at notice level, one that cannot
    /// be used as an error (once per broken version of the files, unless forced), keeping the one in use.
    /// Returns `false` when a certificate could not be loaded.
    @discardableResult
    public func reloadCertificates(force: Bool) async -> Bool {
        let stores = state.withLockedValue { Array($0.certificates.values) }
        var allLoaded = true
        for store in stores {
            let outcome = (try? await NIOThreadPool.singleton.runIfActive { store.reload(force: force) })
            if case .failed = outcome { allLoaded = false }
            if let outcome { log(outcome, of: store, forced: force) }
        }
        return allLoaded
    }

    private func log(_ outcome: TLSCertificateStore.ReloadOutcome, of store: TLSCertificateStore, forced: Bool) {
        switch outcome {
        case .unchanged:
            break
        case .reloaded:
            logCertificate(store, "TLS certificate reloaded; new connections use it", level: .notice)
        case .failed(let error, let isNew):
            guard isNew || forced else { return }
            logger.error(
                "cannot reload the TLS certificate; keeping the one in use",
                metadata: ["error": "\(error)", "serial": "\(store.certificate.serial)"])
        }
    }

    private func logCertificate(_ store: TLSCertificateStore, _ message: Logger.Message, level: Logger.Level) {
        let certificate = store.certificate
        let notAfter = Timestamp(microsecondsSinceEpoch: Int64(certificate.notValidAfter) * 1_000_000)
        let metadata: Logger.Metadata = [
            "certificate": "\(store.files.certificate)", "serial": "\(certificate.serial)", "not-after": "\(notAfter)",
        ]
        if notAfter < Timestamp.now() {
            logger.warning("the TLS certificate has expired; clients will refuse it", metadata: metadata)
        }
        logger.log(level: level, message, metadata: metadata)
    }

    /// Starts the periodic certificate check (every ``ServerConfiguration/tlsReloadInterval``, when there
    /// are certificates) and the summary of connections turned away.
    func startFrontDoorTasks() {
        var tasks: [RepeatedTask] = []
        let interval = configuration.tlsReloadInterval
        let hasCertificates = state.withLockedValue { !$0.certificates.isEmpty }
        if hasCertificates, interval > .zero {
            tasks.append(eventLoop.scheduleRepeatedAsyncTask(initialDelay: interval, delay: interval) { [self] _ in
                let promise = eventLoop.makePromise(of: Void.self)
                promise.completeWithTask { await self.reloadCertificates(force: false) }
                return promise.futureResult
            })
        }
        let counters = frontDoorCounters
        let logger = self.logger
        let logged = NIOLockedValueBox(FrontDoorCounters.Counts())
        tasks.append(eventLoop.scheduleRepeatedTask(
            initialDelay: ChatServer.frontDoorSummaryInterval, delay: ChatServer.frontDoorSummaryInterval
        ) { _ in
            let now = counters.current
            let before = logged.withLockedValue { last in
                defer { last = now }
                return last
            }
            guard now != before else { return }
            logger.info(
                "connections turned away at the front door",
                metadata: [
                    "tls-handshakes-failed": "\(now.tlsHandshakesFailed - before.tlsHandshakesFailed)",
                    "tls-handshakes-timed-out": "\(now.tlsHandshakesTimedOut - before.tlsHandshakesTimedOut)",
                    "proxy-headers-refused": "\(now.proxyHeadersRefused - before.proxyHeadersRefused)",
                    "untrusted-proxies": "\(now.untrustedProxies - before.untrustedProxies)",
                    "total-since-start": "\(now.total)",
                ])
        })
        state.withLockedValue { $0.frontDoorTasks = tasks }
    }

    /// Stops what ``startFrontDoorTasks()`` started.
    func stopFrontDoorTasks() {
        let tasks = state.withLockedValue { state in
            defer { state.frontDoorTasks = [] }
            return state.frontDoorTasks
        }
        for task in tasks { task.cancel() }
    }
}
