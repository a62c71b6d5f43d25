import ArgumentParser
import BulkheadHTTP

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make API tokens for Streamable HTTP callers.",
        subcommands: [New.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a fresh API token for a principal, and the line to paste into bulkhead.toml.",
            discussion: """
                The token (256 bits from the system's random source) is printed once
                and stored nowhere: bulkhead.toml holds only its SHA-256, so reading
                the configuration gives nobody a token. Give the token to the caller,
                who sends it as 'Authorization: Bearer <token>'. A principal may list
                several hashes (token_sha256 = ["…", "…"]) while callers move from an
                old token to a new one.
                """
        )

        @Argument(help: "The principal the token stands for ([principals.NAME] in bulkhead.toml).")
        var name: String

        func validate() throws {
            guard !name.isEmpty, name.utf8.count <= 128,
                  name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.@".unicodeScalars.contains($0) })
            else { throw ValidationError("NAME must be 1 to 128 letters, digits or - _ . @") }
        }

        func run() {
            let token = APITokens.mint()
            print("token: \(token)")
            print("")
            print("# in bulkhead.toml:")
            print("[principals.\(name)]")
            print("token_sha256 = \"\(APITokens.digest(token))\"")
        }
    }
}
