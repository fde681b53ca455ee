import ArgumentParser
import OffHeapReports
import OffHeapWorkloads

extension NameSpecification {
    /// The long name ``RunOption`` gives the option (`--slot-size`).
    static func run(_ option: RunOption) -> NameSpecification { .customLong(option.name) }
}

extension ArgumentHelp {
    /// ``RunOption``'s help, value name (its unit) and default. Options of both commands
    /// have the same default in each (OffHeapCLITests checks it), so `stress`'s is shown.
    static func run(_ option: RunOption) -> ArgumentHelp {
        let command: RunPlan.Command = option.applies(to: .stress) ? .stress : .bench
        var text = option.help
        if let value = option.defaultValue(command) { text += " (default: \(value))" }
        return ArgumentHelp(text, valueName: option.valueName.isEmpty ? nil : option.valueName)
    }
}

/// One name of a ``RunChoice`` (`--hyaline mixed`); help and errors list every name.
struct Choice<Value: RunChoice>: ExpressibleByArgument {
    var text: String

    init?(argument: String) {
        guard Value(name: argument) != nil else { return nil }
        text = argument
    }

    static var allValueStrings: [String] { Value.allCases.map { $0.name } }
    static var allValueDescriptions: [String: String] {
        var descriptions: [String: String] = [:]
        for value in Value.allCases { descriptions[value.name] = value.summary }
        return descriptions
    }
    static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }
}

/// A comma list of ``RunChoice`` names or `all` (`--allocator heap,system`), checked by the
/// engine's own list parser; help and errors list every name.
struct ChoiceList<Value: RunChoice>: ExpressibleByArgument {
    var text: String

    init?(argument: String) {
        guard (try? RunPlan.choices(argument, Value.option) as [Value]) != nil else { return nil }
        text = argument
    }

    static var allValueStrings: [String] { Choice<Value>.allValueStrings + ["all"] }
    static var allValueDescriptions: [String: String] {
        var descriptions = Choice<Value>.allValueDescriptions
        let left = Value.allCases.filter { !$0.isInAll }.map { $0.name }
        descriptions["all"] = left.isEmpty ? "every one" : "every one but \(left.joined(separator: ", "))"
        return descriptions
    }
    static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }
}

/// `--peers`: a comma list of peers, `all` (those installed) or `none`.
struct PeerList: ExpressibleByArgument {
    var text: String

    init(text: String) { self.text = text }

    init?(argument: String) {
        guard (try? Peer.parseList(argument)) != nil else { return nil }
        text = argument
    }

    static var allValueStrings: [String] { Peer.allCases.map { $0.rawValue } + ["all", "none"] }
    static var allValueDescriptions: [String: String] {
        var descriptions: [String: String] = [:]
        for peer in Peer.allCases {
            descriptions[peer.rawValue] =
                peer.soname.map { "LD_PRELOAD of \($0)" } ?? "the C library's malloc, in process"
        }
        descriptions["all"] = "every peer installed here"
        descriptions["none"] = "no peer"
        return descriptions
    }
    static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }
    var defaultValueDescription: String { text }
}

/// `--threads`: a count, or for `bench` a comma list of counts (a scaling sweep), checked by
/// the engine's parser (`stress` refuses a list there, with the reason).
struct ThreadCounts: ExpressibleByArgument {
    var text: String

    init?(argument: String) {
        guard (try? RunPlan.threadCounts(argument, for: .bench)) != nil else { return nil }
        text = argument
    }
}

/// `--sizes`: a comma list of distinct request sizes in bytes (a size sweep).
struct SizeList: ExpressibleByArgument {
    var text: String

    init?(argument: String) {
        guard (try? RunPlan.integerList(argument, .sizes)) != nil else { return nil }
        text = argument
    }
}
