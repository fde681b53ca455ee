import COffHeapShims
import OffHeap
import Synchronization

/// Each worker's final tally, by lane (``TallyBoard``), grouped into the per-role rows.
extension TallyBoard {
    /// One row per role, in the order the roles first appear among the lanes.
    func figures(roles config: StressConfig) -> [StressRoleFigures] {
        var rows: [StressRoleFigures] = []
        for lane in 0..<count {
            let name = config.role(of: lane).name
            var index = -1
            for (at, row) in rows.enumerated() where row.role == name { index = at }
            if index < 0 {
                rows.append(StressRoleFigures(role: name, lanes: 0))
                index = rows.count - 1
            }
            rows[index].lanes += 1
            rows[index].add(tallies[lane])
        }
        return rows
    }
}
