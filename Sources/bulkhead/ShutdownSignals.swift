#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging

/// SIGTERM, SIGINT and SIGHUP, taken by one thread with sigwait(2).
///
/// Written by hand rather than with swift-service-lifecycle: the server runs
/// no Swift Concurrency (its threads are its own), and a ServiceGroup would
/// bring an async runtime in to deliver three signals. A signal handler may do
/// almost nothing (async-signal safety), and a self-pipe would make the stdin
/// reader poll two descriptors on every read. With the signals blocked in every
/// thread and one thread waiting in sigwait, a signal is an ordinary event on
/// an ordinary thread, which can log and start the drain while the reader
/// still blocks in read(2).
enum ShutdownSignals {
    private static let watched: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Blocks the signals in the calling thread, and so in every thread started
    /// after it, plugins' own included (threads inherit the mask). Call before
    /// any thread starts: a thread that does not block them would take their
    /// default action, which ends the process without a drain.
    static func block() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts the thread that takes them. SIGTERM and SIGINT call `drain` with
    /// a reason (it returns false when a drain already began; that is logged);
    /// SIGHUP is logged and ignored until configuration can be reloaded.
    static func watch(logger: Logger, drain: @escaping @Sendable (String) -> Bool) {
        let thread = Thread {
            var set = signalSet()
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                switch signal {
                case SIGHUP:
                    logger.warning("received SIGHUP: ignored (reloading plugins and configuration is not supported yet); still serving")
                case SIGTERM, SIGINT:
                    let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
                    if !drain("received \(name)") {
                        logger.notice("received \(name) again: already shutting down")
                    }
                default:
                    break
                }
            }
        }
        thread.name = "bh-signals"
        thread.start()
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in watched { sigaddset(&set, signal) }
        return set
    }
}
