import PowerSources
import Workloads
import XCTest

final class CgroupHierarchyTests: XCTestCase {
    private var tree: CgroupTree!

    override func setUpWithError() throws { tree = try CgroupTree() }
    override func tearDown() { tree.remove() }

    private var root: CgroupRoot { CgroupRoot(tree.path) }

    func testUnifiedV2ReadsCPUStatAndMemoryCurrent() throws {
        try tree.write("cgroup.controllers", "cpu memory\n")
        try tree.write("a/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
        try tree.write("a/memory.current", "4096\n")
        let hierarchy = try XCTUnwrap(CgroupHierarchy.detect(root))
        XCTAssertEqual(hierarchy.version, .v2)
        XCTAssertEqual(hierarchy.usage(of: "a", under: root), WorkloadUsage(cpuMicroseconds: 1500, memoryBytes: 4096))
    }

    func testHybridPrefersV2CPUTimeAndTakesMemoryFromV1() throws {
        try tree.write("unified/cgroup.controllers", "")
        try tree.write("cpu,cpuacct/cpuacct.usage", "0\n")
        try tree.write("memory/memory.usage_in_bytes", "0\n")
        try tree.write("unified/a/cpu.stat", "usage_usec 2000\n")
        try tree.write("cpu,cpuacct/a/cpuacct.usage", "9000000\n")
        try tree.write("cpu,cpuacct/b/cpuacct.usage", "7000000\n")
        try tree.write("memory/a/memory.usage_in_bytes", "8192\n")
        let hierarchy = try XCTUnwrap(CgroupHierarchy.detect(root))
        XCTAssertEqual(hierarchy.version, .hybrid)
        XCTAssertEqual(hierarchy.cpuacct, "cpu,cpuacct")
        XCTAssertEqual(hierarchy.usage(of: "a", under: root), WorkloadUsage(cpuMicroseconds: 2000, memoryBytes: 8192))
        XCTAssertEqual(
            hierarchy.usage(of: "b", under: root), WorkloadUsage(cpuMicroseconds: 7000, memoryBytes: nil),
            "only in v1: cpuacct.usage in ns")
    }

    func testV1WithCPUAndCPUAcctMountedApart() throws {
        try tree.write("cpu/cpu.shares", "1024\n")
        try tree.write("cpuacct/cpuacct.usage", "0\n")
        try tree.write("memory/memory.usage_in_bytes", "0\n")
        let hierarchy = try XCTUnwrap(CgroupHierarchy.detect(root))
        XCTAssertEqual(hierarchy.version, .v1)
        XCTAssertEqual(hierarchy.cpuacct, "cpuacct")
        XCTAssertNil(CgroupHierarchy.detect(CgroupRoot(tree.path + "/absent")))
    }

    func testAVanishedOrGarbledCgroupReadsAsNil() throws {
        try tree.write("cgroup.controllers", "")
        try tree.write("a/cpu.stat", "nothing here\n")
        let hierarchy = try XCTUnwrap(CgroupHierarchy.detect(root))
        XCTAssertEqual(hierarchy.usage(of: "a", under: root), WorkloadUsage(cpuMicroseconds: nil, memoryBytes: nil))
        XCTAssertEqual(hierarchy.usage(of: "gone", under: root), WorkloadUsage(cpuMicroseconds: nil, memoryBytes: nil))
    }

    func testCPUStatIsReadWhereverUsageUsecStandsAndRefusedWhenGarbled() throws {
        try tree.write("cgroup.controllers", "")
        try tree.write("first/cpu.stat", "usage_usec 42")
        try tree.write("later/cpu.stat", "nr_periods 0\nuser_usec 1\nusage_usec 77\nsystem_usec 2\n")
        try tree.write("prefix/cpu.stat", "usage_usec_total 5\n")
        try tree.write("garbled/cpu.stat", "usage_usec 12x\n")
        try tree.write("empty/cpu.stat", "")
        let hierarchy = try XCTUnwrap(CgroupHierarchy.detect(root))
        XCTAssertEqual(hierarchy.usage(of: "first", under: root).cpuMicroseconds, 42, "no trailing newline")
        XCTAssertEqual(hierarchy.usage(of: "later", under: root).cpuMicroseconds, 77)
        XCTAssertNil(hierarchy.usage(of: "prefix", under: root).cpuMicroseconds)
        XCTAssertNil(hierarchy.usage(of: "garbled", under: root).cpuMicroseconds)
        XCTAssertNil(hierarchy.usage(of: "empty", under: root).cpuMicroseconds)
    }

    func testDiscoveryStopsAtTheOutermostMatchAcrossHierarchies() throws {
        let uid = "1f0e8d3c-2b4a-4c6d-8e9f-0a1b2c3d4e5f"
        let pod = "kubepods/burstable/pod\(uid)"
        try tree.write("cpu,cpuacct/cpuacct.usage", "0\n")
        try tree.write("memory/memory.usage_in_bytes", "0\n")
        try tree.makeDirectory("cpu,cpuacct/\(pod)/container-a")
        try tree.makeDirectory("memory/\(pod)/container-a")
        try tree.makeDirectory("cpu,cpuacct/slurm/uid_1000/job_7/step_0/user/task_0")
        try tree.makeDirectory("cpu,cpuacct/system.slice/sshd.service")
        let hierarchy = try XCTUnwrap(CgroupHierarchy.detect(root))
        let found = WorkloadDiscovery(root: root, hierarchy: hierarchy, kinds: [.pod, .slurmJob]).discover()
        XCTAssertEqual(
            Set(found.keys), [WorkloadID(kind: .pod, name: uid), WorkloadID(kind: .slurmJob, name: "7")])
        XCTAssertEqual(found[WorkloadID(kind: .pod, name: uid)]?.cgroupPath, pod)
        let subtree = hierarchy.subtree(of: pod, under: root)
        XCTAssertEqual(subtree.count, 2, "the pod and its container: \(subtree)")
    }
}
