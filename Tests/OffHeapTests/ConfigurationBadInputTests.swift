@testable import OffHeap
import Testing

/// Every configuration path rejects out-of-range values with a typed error; none traps
/// (a trap here kills the whole test process, so each case is a real failure before a fix).
@Suite("Configuration bad input")
struct ConfigurationBadInputTests {
    static let extremes = [Int.min, -1, 0, 1, 3, Int.max - 2, Int.max - 1, Int.max]

    @Test func shardedFreeListSlotStrideNeverTraps() throws {
        let configuration = ShardedFreeList.Configuration(slotSize: Int.max - 2, capacity: 4)
        #expect(configuration.slotStride == Int.max)
        #expect(throws: OffHeapError.self) { try configuration.validate() }
        #expect(throws: OffHeapError.self) {
            _ = try ShardedFreeList(configuration: configuration)
        }
        #expect(throws: OffHeapError.self) {
            _ = try ShardedFreeList(slotSize: Int.max - 2, capacity: 4)
        }
        let badAlignment = ShardedFreeList.Configuration(
            slotSize: 64, slotAlignment: Int.min, capacity: 4)
        _ = badAlignment.slotStride
        #expect(throws: OffHeapError.self) { try badAlignment.validate() }
    }

    @Test func shardedFreeListExtremeFieldsAreTypedErrors() {
        for value in Self.extremes {
            for field in 0..<4 {
                var configuration = ShardedFreeList.Configuration(slotSize: 64, capacity: 16)
                switch field {
                case 0: configuration.slotSize = value
                case 1: configuration.slotAlignment = value
                case 2: configuration.capacity = value
                default: configuration.magazineSize = value
                }
                _ = configuration.slotStride
                let valid = (try? configuration.validate()) != nil
                do throws(OffHeapError) {
                    let pool = try ShardedFreeList(configuration: configuration)
                    #expect(valid, "field \(field) = \(value) accepted by init, not by validate")
                    _ = pool
                } catch {
                    #expect(!valid, "field \(field) = \(value): \(error)")
                }
            }
        }
    }

    @Test func freeListExtremeFieldsAreTypedErrors() {
        for value in Self.extremes {
            for field in 0..<4 {
                var configuration = FreeList.Configuration(slotSize: 64, capacity: 16)
                switch field {
                case 0: configuration.slotSize = value
                case 1: configuration.slotAlignment = value
                case 2: configuration.capacity = value
                default: configuration.slabSize = value
                }
                // Accepted or a typed error; reaching the next iteration is the assertion.
                let pool = try? FreeList(configuration: configuration)
                if value == Int.max || value == Int.min { #expect(pool == nil) }
            }
        }
    }

    @Test func arenaAndSlabPoolExtremesAreTypedErrors() {
        for value in Self.extremes where value < 1 || value > 1 << 40 {
            #expect(throws: OffHeapError.self) { _ = try Arena(capacity: value) }
            #expect(throws: OffHeapError.self) { _ = try SlabPool(slabSize: value) }
            #expect(throws: OffHeapError.self) { _ = try SlabPool(maximumSlabs: value) }
            #expect(throws: OffHeapError.self) {
                _ = try SlabPool(maximumLargeAllocations: value)
            }
        }
    }

    @Test func sizeClassHeapAndHyalineExtremesAreTypedErrors() {
        for value in Self.extremes where value < 0 {
            #expect(throws: OffHeapError.self) {
                _ = try SizeClassHeap(configuration: .init(maximumCachedSegments: value))
            }
            #expect(throws: OffHeapError.self) {
                _ = try SizeClassHeap(configuration: .init(hugeCacheBytes: value))
            }
        }
        for value in Self.extremes where value < 1 || value > 1 << 31 {
            #expect(throws: OffHeapError.self) { _ = try HyalineDomain(configuration: .init(maximumReaders: value)) }
            #expect(throws: OffHeapError.self) {
                _ = try HyalineDomain(configuration: .init(recordCapacity: value))
            }
            #expect(throws: OffHeapError.self) {
                _ = try HyalineDomain(configuration: .init(batchThreshold: value))
            }
            #expect(throws: OffHeapError.self) { _ = try HyalineDomain(configuration: .init(stripes: value)) }
        }
    }

    @Test func controllerGainsMustBeFinite() {
        for bad in [Double.infinity, -Double.infinity, Double.nan] {
            for field in 0..<4 {
                var controller = HyalineThresholdController.Configuration()
                switch field {
                case 0: controller.kp = bad
                case 1: controller.ki = bad
                case 2: controller.integralLimit = bad
                default: controller.setpoint = bad
                }
                #expect(throws: OffHeapError.self) {
                    _ = try HyalineDomain(configuration: .init(controller: controller))
                }
            }
        }
        // The law itself never traps, whatever configuration it is handed.
        var law = HyalinePILaw(HyalineThresholdController.Configuration(kp: .infinity))
        let step = law.update(freeFraction: 0.25, seconds: 0.001)
        #expect(step.threshold >= 1)
    }
}
