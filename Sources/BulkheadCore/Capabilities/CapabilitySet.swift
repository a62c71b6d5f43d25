#if canImport(Glibc)
import Glibc
#endif
import BulkheadProtocol

/// One capability a plugin holds: granted by the operator, requested by the
/// manifest, and usable now. Reached by the plugin only through its token.
final class HeldCapability: Sendable {
    enum Body: Sendable {
        case files(FileRoot)
        case secret([UInt8])
        case http(CapabilityGrant.HTTPGrant)
        case coreStatus
    }

    let name: String
    let body: Body
    let token: UInt64

    var kind: CapabilityKind {
        switch body {
        case .files: .files
        case .secret: .secret
        case .http: .http
        case .coreStatus: .coreStatus
        }
    }

    init(name: String, body: Body, token: UInt64) {
        self.name = name
        self.body = body
        self.token = token
    }
}

/// A plugin's effective capabilities: the intersection of what its manifest
/// requests and what its operator granted, resolved (roots opened, secrets
/// read) before any of its code runs.
struct CapabilitySet: Sendable {
    /// One line per requested or granted capability, for `bulkhead check`.
    struct Row: Sendable {
        var name: String
        var kind: CapabilityKind
        var requested: String
        var granted: String
        var effective: String
        var reason: String
    }

    private(set) var byName: [ExactKey: HeldCapability] = [:]
    private(set) var byToken: [UInt64: HeldCapability] = [:]
    private(set) var rows: [Row] = []
    /// Secret values, so that log lines, error messages and results can be scrubbed of them.
    private(set) var secretValues: [String] = []

    static let empty = CapabilitySet()

    var holdsCoreStatus: Bool {
        byName.values.contains { if case .coreStatus = $0.body { true } else { false } }
    }

    /// Resolves requests against grants. Problems are reasons to refuse the
    /// plugin: a required capability not granted (or not usable), a grant
    /// that cannot be honoured. `mint` makes the token for each held capability.
    /// With `scratch` (bulkhead check), read-write roots are checked but not
    /// opened: an empty temporary folder stands in for each.
    static func resolve(requests: [CapabilityRequest], grants: [String: CapabilityGrant], scratch: CheckScratch? = nil,
                        mint: () -> UInt64) -> (CapabilitySet, [String]) {
        var set = CapabilitySet()
        var problems: [String] = []
        for request in requests {
            let requested = request.kind == .files ? "\(request.access?.rawValue ?? "read")" : "yes"
            var row = Row(name: request.name, kind: request.kind,
                          requested: request.required ? "\(requested), required" : requested,
                          granted: "no", effective: "none", reason: request.reason)
            defer { set.rows.append(row) }
            guard let grant = grants[request.name] else {
                if request.required {
                    problems.append("capability '\(request.name)' (\(request.kind.rawValue)) is required but not granted: add [grants.\(request.name)] to policy.toml")
                }
                continue
            }
            let body: HeldCapability.Body
            switch (grant, request.kind) {
            case (.files(let path, let access, let allowHardLinks), .files):
                let effective = min(access, request.access ?? .read)
                let links = allowHardLinks ? ", hard links allowed" : ""
                row.granted = "\(access.rawValue) \(path)\(links)"
                var opened = path
                if effective == .readWrite, let scratch {
                    switch scratch.standIn(for: path, capability: request.name) {
                    case .success(let folder): opened = folder
                    case .failure(let why):
                        row.effective = "none (\(why.message))"
                        if request.required { problems.append("capability '\(request.name)' (files): \(why.message)") }
                        continue
                    }
                }
                switch FileRoot.open(path: opened, access: effective, allowHardLinks: allowHardLinks) {
                case .success(let root):
                    body = .files(root)
                    row.effective = opened == path ? "\(effective.rawValue) \(root.path)\(links)"
                        : "\(effective.rawValue) \(path)\(links) (check gave init an empty temporary folder instead)"
                case .failure(let why):
                    let text: String
                    switch why {
                    case .notFound: text = "\(path) does not exist"
                    case .io(let m), .invalid(let m), .notAllowed(let m): text = m
                    case .exists: text = "\(path) exists"
                    }
                    row.effective = "none (\(text))"
                    if request.required { problems.append("capability '\(request.name)' (files): \(text)") }
                    continue
                }
            case (.secret(let source), .secret):
                row.granted = "from \(source)"
                switch SecretLoader.read(source) {
                case .success(let value):
                    body = .secret(value)
                    row.effective = "yes (\(value.count) bytes)"
                    if let s = String(validating: value, as: UTF8.self), s.utf8.count >= 4 {
                        set.secretValues.append(s)
                        KnownSecrets.add(s)
                    }
                case .failure(let why):
                    row.effective = "none (\(why.message))"
                    if request.required { problems.append("capability '\(request.name)' (secret): \(why.message)") }
                    continue
                }
            case (.http(let g), .http):
                row.granted = g.origins.map(\.description).joined(separator: " ")
                    + ", ≤\(g.maxResponseBytes) bytes, \(g.timeoutMilliseconds) ms"
                body = .http(g)
                row.effective = row.granted
            case (.coreStatus, .coreStatus):
                row.granted = "yes"
                body = .coreStatus
                row.effective = "yes"
            default:
                problems.append("capability '\(request.name)': the grant does not match its kind \(request.kind.rawValue)")
                continue
            }
            let held = HeldCapability(name: request.name, body: body, token: mint())
            set.byName[exactly: request.name] = held
            set.byToken[held.token] = held
        }
        return (set, problems)
    }

    /// `text` with every secret value the plugin holds replaced by "[redacted]".
    func scrub(_ text: String) -> String {
        if secretValues.isEmpty { return text }
        var out = text
        for secret in secretValues where out.contains(secret) {
            out = out.replacing(secret, with: Self.redacted)
        }
        return out
    }
}

/// Reads a secret's value from where the operator said it is.
enum SecretLoader {
    struct Problem: Error {
        let message: String
    }

    static func read(_ source: CapabilityGrant.SecretSource) -> Result<[UInt8], Problem> {
        switch source {
        case .environment(let name):
            guard let raw = getenv(name) else { return .failure(Problem(message: "environment variable \(name) is not set")) }
            let value = Array(String(cString: raw).utf8)
            return value.isEmpty ? .failure(Problem(message: "environment variable \(name) is empty")) : .success(value)
        case .file(let path):
            guard let text = FileIO.readText(path, limit: 64 << 10) else {
                return .failure(Problem(message: "cannot read \(path) (missing, unreadable, over 64 KiB or not UTF-8)"))
            }
            // A file written with `echo` ends in a newline that is not part of the secret.
            var bytes = Array(text.utf8)
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            return bytes.isEmpty ? .failure(Problem(message: "\(path) is empty")) : .success(bytes)
        }
    }
}
