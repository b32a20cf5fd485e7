/// Splits a migration file into statements, as `psql` would, so each runs on its own and errors point at a line.
///
/// Understands `--` and nested `/* */` comments, `'...'` strings (with `''`), `E'...'` strings (with backslash
/// escapes), `"..."` identifiers, `$tag$...$tag$` bodies and `BEGIN ATOMIC ... END` function bodies. Statements that
/// hold only comments are dropped.
public enum SQLScript {
    public struct Statement: Hashable, Sendable {
        /// The statement without its closing `;`.
        public var text: String
        /// 1-based line and column of its first character in the file.
        public var line: Int
        public var column: Int

        /// Line and column in the file of a 1-based character position inside ``text`` (as servers report).
        public func location(ofPosition position: Int) -> (line: Int, column: Int) {
            var line = self.line
            var column = self.column
            for (index, scalar) in text.unicodeScalars.enumerated() {
                if index >= position - 1 { break }
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return (line, column)
        }

        /// The first word, uppercased (`CREATE`, `BEGIN`, ...), ignoring leading comments.
        public var leadingKeyword: String {
            let scalars = Array(text.unicodeScalars)
            var index = 0
            while index < scalars.count {
                let scalar = scalars[index]
                if scalar.properties.isWhitespace {
                    index += 1
                } else if scalar == "-", index + 1 < scalars.count, scalars[index + 1] == "-" {
                    while index < scalars.count, scalars[index] != "\n" { index += 1 }
                } else if scalar == "/", index + 1 < scalars.count, scalars[index + 1] == "*" {
                    index = SQLScript.skipBlockComment(scalars, from: index)
                } else {
                    break
                }
            }
            var word = ""
            while index < scalars.count, SQLScript.isIdentifier(scalars[index]) {
                word.unicodeScalars.append(scalars[index])
                index += 1
            }
            return word.uppercased()
        }
    }

    public static func statements(in sql: String) -> [Statement] {
        let scalars = Array(sql.unicodeScalars)
        var statements: [Statement] = []
        var start = 0
        var index = 0
        var hasCode = false
        var atomicDepth = 0
        var lastWords: [String] = []

        func finish(at end: Int) {
            if hasCode {
                var text = String.UnicodeScalarView()
                text.append(contentsOf: scalars[start..<end])
                // Leading whitespace moves the reported start forward so errors point at the statement itself.
                var first = start
                while first < end, scalars[first].properties.isWhitespace { first += 1 }
                let (line, column) = position(of: first, in: scalars)
                var trimmed = String.UnicodeScalarView()
                trimmed.append(contentsOf: scalars[first..<end])
                statements.append(Statement(text: String(trimmed), line: line, column: column))
            }
            start = end + 1
            hasCode = false
            lastWords = []
        }

        while index < scalars.count {
            let scalar = scalars[index]
            let next: Unicode.Scalar? = index + 1 < scalars.count ? scalars[index + 1] : nil
            switch scalar {
            case "-" where next == "-":
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
                continue
            case "/" where next == "*":
                index = skipBlockComment(scalars, from: index)
                continue
            case "'":
                let backslashes =
                    index > 0 && (scalars[index - 1] == "E" || scalars[index - 1] == "e")
                    && (index < 2 || !isIdentifier(scalars[index - 2]))
                index = skipQuoted(scalars, from: index, quote: "'", backslashEscapes: backslashes)
                hasCode = true
                continue
            case "\"":
                index = skipQuoted(scalars, from: index, quote: "\"", backslashEscapes: false)
                hasCode = true
                continue
            case "$" where index == 0 || !isIdentifier(scalars[index - 1]):
                if let end = dollarQuoteEnd(scalars, from: index) {
                    index = end
                    hasCode = true
                    continue
                }
            case ";" where atomicDepth == 0:
                finish(at: index)
                index += 1
                continue
            default:
                break
            }
            if isIdentifier(scalar) && (index == 0 || !isIdentifier(scalars[index - 1])) {
                var word = ""
                var end = index
                while end < scalars.count, isIdentifier(scalars[end]) {
                    word.unicodeScalars.append(scalars[end])
                    end += 1
                }
                word = word.uppercased()
                if word == "ATOMIC", lastWords.last == "BEGIN" {
                    atomicDepth += 1
                } else if atomicDepth > 0, word == "CASE" {
                    atomicDepth += 1
                } else if atomicDepth > 0, word == "END" {
                    atomicDepth -= 1
                }
                lastWords = Array((lastWords + [word]).suffix(2))
                hasCode = true
                index = end
                continue
            }
            if !scalar.properties.isWhitespace { hasCode = true }
            index += 1
        }
        finish(at: scalars.count)
        return statements
    }

    static func isIdentifier(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar.value > 127
    }

    static func skipBlockComment(_ scalars: [Unicode.Scalar], from start: Int) -> Int {
        var depth = 0
        var index = start
        while index < scalars.count {
            if scalars[index] == "/", index + 1 < scalars.count, scalars[index + 1] == "*" {
                depth += 1
                index += 2
            } else if scalars[index] == "*", index + 1 < scalars.count, scalars[index + 1] == "/" {
                depth -= 1
                index += 2
                if depth == 0 { return index }
            } else {
                index += 1
            }
        }
        return index
    }

    private static func skipQuoted(
        _ scalars: [Unicode.Scalar],
        from start: Int,
        quote: Unicode.Scalar,
        backslashEscapes: Bool
    ) -> Int {
        var index = start + 1
        while index < scalars.count {
            if backslashEscapes, scalars[index] == "\\" {
                index += 2
                continue
            }
            if scalars[index] == quote {
                if index + 1 < scalars.count, scalars[index + 1] == quote {
                    index += 2
                    continue
                }
                return index + 1
            }
            index += 1
        }
        return index
    }

    /// The index after the closing tag when a `$tag$` starts at `start`.
    private static func dollarQuoteEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start + 1
        var tag = [Unicode.Scalar("$")]
        while index < scalars.count, scalars[index] != "$" {
            let scalar = scalars[index]
            let allowed =
                scalar == "_" || scalar.properties.isAlphabetic || scalar.value > 127
                || (index > start + 1 && ("0"..."9").contains(scalar))
            guard allowed else { return nil }
            tag.append(scalar)
            index += 1
        }
        guard index < scalars.count else { return nil }
        tag.append("$")
        index += 1
        while index + tag.count <= scalars.count {
            if scalars[index] == "$", Array(scalars[index..<index + tag.count]) == tag {
                return index + tag.count
            }
            index += 1
        }
        return scalars.count
    }

    private static func position(of offset: Int, in scalars: [Unicode.Scalar]) -> (Int, Int) {
        var line = 1
        var column = 1
        for scalar in scalars[0..<offset] {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
