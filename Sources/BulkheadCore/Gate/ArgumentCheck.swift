import BulkheadProtocol

/// Checks a call's arguments against the tool's input schema before the
/// plugin sees them, after clamping the fields the policy marks as clamps.
enum ArgumentCheck {
    struct Passed {
        var arguments: JSONObject
        /// One entry per clamped field: {field, requested, applied}.
        var clamped: [JSONValue]
    }

    static func run(_ arguments: JSONObject, tool: PluginManifest.Tool, clamps: Set<ExactKey>?) -> Result<Passed, ToolResultBox> {
        var args = arguments
        var clamped: [JSONValue] = []
        if let clamps {
            for field in clamps.map(\.string).sorted() {
                // A value of the wrong type (50.5 for an integer) is left as it is, for the
                // validator to refuse exactly as it would without the clamp.
                guard let value = args[field], let number = value.doubleValue,
                      let bounds = tool.validator.clampBounds(of: field, for: value) else { continue }
                var applied = number
                if let lo = bounds.minimum, number < lo { applied = lo }
                if let hi = bounds.maximum, number > hi { applied = hi }
                guard applied != number else { continue }
                let newValue: JSONValue = applied.rounded() == applied && abs(applied) < 9e15 ? .int(Int64(applied)) : .double(applied)
                args[field] = newValue
                clamped.append(["field": .string(field), "requested": value, "applied": newValue])
            }
        }
        let violations = tool.validator.validate(.object(args))
        guard violations.isEmpty else {
            let message = violations.count == 1
                ? violations[0].message
                : violations.map(\.message).joined(separator: "; ")
            let detail: [JSONValue] = violations.map {
                ["field": .string($0.field), "rule": .string($0.keyword), "message": .string($0.message)]
            }
            return .failure(ToolResultBox(ToolErrors.result(.invalidArgument, message, extra: ["violations": .array(detail)])))
        }
        return .success(Passed(arguments: args, clamped: clamped))
    }
}

/// A ToolResult as an Error, so a failed check can travel in a Result.
struct ToolResultBox: Error {
    let result: ToolResult
    init(_ result: ToolResult) { self.result = result }
}
