#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about processes that the reports need: this tool's CPU time, a server's resident memory,
/// and the descriptor limit that bounds how many connections the tool can open.
enum ProcessMetrics {
    /// User plus system CPU time this process has used so far, in seconds (`getrusage(RUSAGE_SELF)`).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF_VALUE, &usage) == 0 else { return 0 }
        func seconds(_ value: timeval) -> Double { Double(value.tv_sec) + Double(value.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limit now in force.
    @discardableResult
    static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// `VmRSS` of process `pid` in KiB, read from `/proc/PID/status`; `nil` when the process or the
    /// field is not there (not Linux, process gone).
    static func residentKiB(pid: Int32) -> UInt64? {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("VmRSS:") else { continue }
            let digits = text.dropFirst("VmRSS:".count).filter(\.isNumber)
            return UInt64(digits)
        }
        return nil
    }
}

#if canImport(Glibc)
// Glibc imports RLIMIT_NOFILE as an enum case of `__rlimit_resource`; getrlimit wants its raw value.
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
private let RUSAGE_SELF_VALUE = __rusage_who_t(RUSAGE_SELF.rawValue)
#else
private let RUSAGE_SELF_VALUE = RUSAGE_SELF
private let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
#endif
