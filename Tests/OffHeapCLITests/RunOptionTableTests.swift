import ArgumentParser
import Foundation
import OffHeap
import OffHeapWorkloads
import Testing
@testable import offheap

/// The one option table (`RunOption`) against both parsers that use it: the hosted CLI
/// (ArgumentParser) and the Embedded engine's own (`RunPlan.parse`).
@Suite("offheap option table")
struct RunOptionTableTests {
    static let commands: [RunPlan.Command] = [.stress, .bench]

    static func cliParse(_ command: RunPlan.Command, _ arguments: [String]) throws -> [String] {
        switch command {
        case .stress: return try StressCommand.parse(arguments).engineArguments
        case .bench: return try BenchCommand.parse(arguments).engineArguments
        }
    }

    static func help(_ command: RunPlan.Command) -> String {
        command == .stress ? StressCommand.helpMessage(columns: 400) : BenchCommand.helpMessage(columns: 400)
    }

    @Test func theCLIDeclaresEveryTableOptionOfEachCommandAndNoOther() throws {
        let stress = try StressCommand.parse([]).given.map { $0.0 }
        let bench = try BenchCommand.parse([]).given.map { $0.0 }
        for (command, declared) in [(RunPlan.Command.stress, stress), (.bench, bench)] {
            let table = RunOption.allCases.filter { $0.applies(to: command) }
            #expect(declared.count == table.count, "\(command.name): duplicates or missing")
            #expect(Set(declared.map { $0.name }) == Set(table.map { $0.name }), "\(command.name)")
        }
        // The flags the help shows are the table's plus the hosted-only ones.
        let hostedOnly: Set = ["--peers", "--peer-library", "--quiet", "--version", "--help"]
        for command in Self.commands {
            let shown = Set(
                Self.help(command).split(whereSeparator: { $0 == " " || $0 == "\n" })
                    .filter { $0.hasPrefix("--") && $0.count > 2 }
                    .map { String($0.prefix { $0 != "," && $0 != "." && $0 != ")" && $0 != "'" }) })
            let table = Set(RunOption.allCases.filter { $0.applies(to: command) }.map { $0.flag })
            #expect(table.isSubset(of: shown), "\(command.name): \(table.subtracting(shown))")
            let declaredFlags = table.union(hostedOnly)
            let options = Set(
                Self.help(command).split(separator: "\n")
                    .map { $0.drop { $0 == " " } }.filter { $0.hasPrefix("--") }
                    .map { String($0.prefix { $0 != " " }) })
            #expect(
                options.subtracting(declaredFlags).isEmpty, "\(command.name): \(options.subtracting(declaredFlags))")
        }
    }

    @Test func helpShowsEachOptionsValueNameDefaultAndValues() {
        for command in Self.commands {
            let help = Self.help(command)
            for option in RunOption.allCases where option.applies(to: command) {
                #expect(help.contains(option.synopsis), "\(option.synopsis)")
                if let value = option.defaultValue(command) {
                    #expect(help.contains("(default: \(value))"), "\(option.flag) default \(value)")
                }
                for value in option.values {
                    #expect(help.contains(value.name) && help.contains(value.summary), "\(option.flag) \(value.name)")
                }
            }
        }
    }

    @Test func optionsOfBothCommandsHaveOneDefault() {
        for option in RunOption.allCases where option.applies(to: .stress) && option.applies(to: .bench) {
            #expect(option.defaultValue(.stress) == option.defaultValue(.bench), "\(option.flag)")
        }
    }

    @Test func everyDefaultParsesBackToTheDefaultPlanInBothParsers() throws {
        for command in Self.commands {
            let defaults = RunPlan(command: command).configEntries.map { "\($0.0)=\($0.1)" }
            for option in RunOption.allCases where option.applies(to: command) {
                guard let value = option.defaultValue(command) else { continue }
                let engine = try RunPlan.parse([command.name, option.flag, value]).plan
                #expect(engine.configEntries.map { "\($0.0)=\($0.1)" } == defaults, "\(option.flag) \(value)")
                #expect(try Self.cliParse(command, [option.flag, value]) == [command.name, option.flag, value])
            }
        }
    }

    @Test func integerRangesAreEnforcedWithTheTablesReasonByTheEngineAndTheCLI() throws {
        for command in Self.commands {
            for option in RunOption.allCases where option.applies(to: command) && option.value == .integer {
                let range = try #require(option.range)
                for good in [range.lowerBound, range.upperBound] {
                    var plan = RunPlan(command: command)
                    #expect(throws: Never.self, "\(option.flag) \(good)") { try plan.apply(option, String(good)) }
                }
                var bad = ["x", "1.5", ""]
                if range.lowerBound > Int.min { bad.append(String(range.lowerBound - 1)) }
                if range.upperBound < Int.max { bad.append(String(range.upperBound + 1)) }
                for text in bad {
                    var plan = RunPlan(command: command)
                    #expect(
                        throws: OffHeapError.invalidConfiguration(reason: option.invalidReason),
                        "\(option.flag) \(text)"
                    ) {
                        try plan.apply(option, text)
                    }
                    #expect(
                        OffHeapCommand.parseStatus([command.name, option.flag, text]) == 2, "\(option.flag) \(text)")
                }
                // The reason states the range it enforces.
                if range.upperBound < Int.max {
                    #expect(
                        option.invalidReason.description.contains("\(range.lowerBound)...\(range.upperBound)"),
                        "\(option.flag)")
                }
            }
        }
    }

    @Test func everyChoiceParsesInBothAndTheReasonNamesEveryValue() throws {
        for command in Self.commands {
            for option in RunOption.allCases where option.applies(to: command) && !option.values.isEmpty {
                let reason = option.invalidReason.description
                for value in option.values {
                    #expect(reason.contains(value.name), "\(option.flag): \(reason) lacks \(value.name)")
                    var plan = RunPlan(command: command)
                    // A role list must be valid as a whole: pair publisher/stalled with readers.
                    let text =
                        option == .roles && value.name != "bounce" && value.name != "burst" && value.name != "retire"
                        ? "publisher,reader,\(value.name)" : value.name
                    if option == .roles && value.name == "stalled" {
                        #expect(throws: Never.self) { try plan.apply(option, text) }
                    } else {
                        _ = try RunPlan.parse([command.name, option.flag, text])
                        #expect(try Self.cliParse(command, [option.flag, text]) == [command.name, option.flag, text])
                    }
                }
                var plan = RunPlan(command: command)
                #expect(throws: OffHeapError.invalidConfiguration(reason: option.invalidReason)) {
                    try plan.apply(option, "nonesuch")
                }
            }
        }
    }

    @Test func anUnknownAllocatorIsAnErrorNamingTheValidOnes() {
        do {
            _ = try StressCommand.parse(["--allocator", "heap,magic"])
            Issue.record("--allocator heap,magic parsed")
        } catch {
            let message = StressCommand.fullMessage(for: error)
            #expect(message.contains("'heap,magic' is invalid for '--allocator"), "\(message)")
            for choice in AllocatorChoice.allCases { #expect(message.contains("- \(choice.name)\n"), "\(choice.name)") }
            #expect(StressCommand.exitCode(for: error) == .validationFailure)
        }
        #expect(OffHeapCommand.parseStatus(["bench", "--allocator", "heap,magic"]) == 2)
        #expect(OffHeapCommand.parseStatus(["bench", "--workload", "larson,nope"]) == 2)
        #expect(OffHeapCommand.parseStatus(["stress", "--roles", "bounce,sleepy"]) == 2)
        #expect(OffHeapCommand.parseStatus(["stress", "--hyaline", "both"]) == 2)
        #expect(OffHeapCommand.parseStatus(["bench", "--peers", "jemalloc,hoard"]) == 2)
        #expect(throws: OffHeapError.invalidConfiguration(reason: RunOption.allocator.invalidReason)) {
            try RunPlan.parse(["stress", "--allocator", "heap,magic"])
        }
    }

    @Test func intervalTakesADurationLikeDuration() throws {
        for (text, ns) in [
            ("100ms", UInt64(100_000_000)), ("1ms", 1_000_000), ("2s", 2_000_000_000), ("1m", 60_000_000_000),
        ] {
            #expect(try RunPlan.parse(["stress", "--interval", text]).plan.stress.intervalNanoseconds == ns, "\(text)")
            let cli = try Self.cliParse(.stress, ["--interval", text])
            #expect(try RunPlan.parse(cli).plan.stress.intervalNanoseconds == ns, "\(text)")
        }
        for bad in ["100", "0ms", "61s", "2m", "1h", "ms", "-5ms"] {
            #expect(throws: OffHeapError.invalidConfiguration(reason: RunOption.interval.invalidReason), "\(bad)") {
                try RunPlan.parse(["stress", "--interval", bad])
            }
            #expect(OffHeapCommand.parseStatus(["stress", "--interval", bad]) == 2, "\(bad)")
        }
        #expect(OffHeapCommand.parseStatus(["stress", "--interval-ms", "100"]) == 2)
    }

    @Test func noHyalineIsHyalineOff() throws {
        let off = try RunPlan.parse(["stress", "--hyaline", "off"]).plan.stress
        let cli = try Self.cliParse(.stress, ["--no-hyaline"])
        #expect(cli == ["stress", "--no-hyaline"])
        let flag = try RunPlan.parse(cli).plan.stress
        #expect(!flag.hyaline && !flag.hyalineMixed && HyalineMode(flag) == HyalineMode(off))
        #expect(HyalineMode(try RunPlan.parse(["stress"]).plan.stress) == .on)
        #expect(throws: OffHeapError.self) { try RunPlan.parse(["stress", "--no-hyaline", "on"]) }
    }

    @Test func optionsOfTheOtherCommandAreRejected() {
        for command in Self.commands {
            let other: RunPlan.Command = command == .stress ? .bench : .stress
            for option in RunOption.allCases where option.applies(to: other) && !option.applies(to: command) {
                let value = option.defaultValue(other) ?? "1"
                let arguments =
                    option.value == .flag ? [command.name, option.flag] : [command.name, option.flag, value]
                #expect(throws: OffHeapError.self, "\(arguments)") { try RunPlan.parse(arguments) }
                #expect(OffHeapCommand.parseStatus(arguments) == 2, "\(arguments)")
            }
        }
    }

    @Test func theDefaultAllocatorsAreTheLibrarysAndTheVersionIsOneConstant() throws {
        for command in Self.commands {
            let plan = try RunPlan.parse(try Self.cliParse(command, [])).plan
            #expect(plan.allocators == RunPlan(command: command).allocators)
            #expect(!plan.allocators.isEmpty && !plan.allocators.contains(.system))
        }
        #expect(OffHeapCommand.configuration.version == OffHeapVersion.current)
        #expect(!OffHeapVersion.current.isEmpty)
    }

    @Test func everySubcommandsHelpCarriesExamplesThatParse() throws {
        for command in [OffHeapCommand.self, StressCommand.self, BenchCommand.self, ProbeCommand.self]
            as [any ParsableCommand.Type]
        {
            let discussion = command.configuration.discussion
            #expect(discussion.contains("Examples:"), "\(command)")
            // Each example (a line starting with "offheap", continued by trailing "\") parses.
            var lines = discussion.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }[...]
            var examples = 0
            while let line = lines.popFirst() {
                guard line.hasPrefix("offheap ") else { continue }
                var text = line
                while text.hasSuffix("\\"), let next = lines.popFirst() { text = String(text.dropLast()) + " " + next }
                var words = text.split(separator: " ").map(String.init).dropFirst()
                if words.last == "-" || text.contains("|") { words = words.prefix { $0 != "|" } }
                #expect(OffHeapCommand.parseStatus(Array(words)) == 0, "\(text)")
                examples += 1
            }
            #expect(examples >= 2, "\(command)")
        }
    }
}
