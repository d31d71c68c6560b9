import Workloads
import XCTest

final class WorkloadClassifierTests: XCTestCase {
    private let all = Set(WorkloadKind.allCases)
    private let uid = "1f0e8d3c-2b4a-4c6d-8e9f-0a1b2c3d4e5f"
    private var underscored: String { uid.replacingOccurrences(of: "-", with: "_") }

    private func classify(_ path: String, kinds: Set<WorkloadKind>? = nil) -> DiscoveredWorkload? {
        WorkloadClassifier.classify(path.split(separator: "/"), kinds: kinds ?? all)
    }

    func testKubeletSystemdDriverInAllThreeQoSClasses() {
        for path in [
            "kubepods.slice/kubepods-pod\(underscored).slice",
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(underscored).slice",
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(underscored).slice",
        ] {
            XCTAssertEqual(classify(path)?.id, WorkloadID(kind: .pod, name: uid), path)
            XCTAssertEqual(classify(path)?.cgroupPath, path)
        }
    }

    func testKubeletCgroupfsDriver() {
        for path in ["kubepods/pod\(uid)", "kubepods/burstable/pod\(uid)", "kubepods/besteffort/pod\(uid)"] {
            XCTAssertEqual(classify(path)?.id, WorkloadID(kind: .pod, name: uid), path)
        }
    }

    func testContainersAndQoSSlicesAreNotPods() {
        XCTAssertNil(classify("kubepods.slice/kubepods-burstable.slice"))
        XCTAssertNil(classify("kubepods.slice"))
        XCTAssertNil(classify("system.slice/pod\(uid)"), "a pod-like name outside kubepods")
        XCTAssertNil(classify("kubepods/burstable/podnot-a-uid"))
        XCTAssertNil(classify("kubepods.slice/kubepods-pod\(uid).slice"), "the systemd driver writes underscores")
    }

    func testSlurmCgroupV2LayoutsIncludingSeveralSlurmd() {
        XCTAssertEqual(
            classify("system.slice/slurmstepd.scope/job_4242")?.id, WorkloadID(kind: .slurmJob, name: "4242"))
        XCTAssertEqual(
            classify("system.slice/node7_slurmstepd.scope/job_17")?.id, WorkloadID(kind: .slurmJob, name: "17"))
        XCTAssertNil(classify("system.slice/slurmstepd.scope/system"))
        XCTAssertNil(classify("system.slice/other.scope/job_17"))
    }

    func testSlurmCgroupV1LayoutCarriesTheUser() {
        let job = classify("slurm/uid_1000/job_99")
        XCTAssertEqual(job?.id, WorkloadID(kind: .slurmJob, name: "99"))
        XCTAssertEqual(job?.userID, 1000)
        XCTAssertEqual(classify("slurm_node3/uid_1001/job_100")?.userID, 1001)
        XCTAssertNil(classify("slurm/uid_1000"))
        XCTAssertNil(classify("other/uid_1000/job_1"))
    }

    func testASLUIDJobDirectoryKeepsItsSLUID() {
        let job = classify("system.slice/slurmstepd.scope/job_01HZX3Q4W5E6R7T8Y9")
        XCTAssertEqual(job?.id.kind, .slurmJob)
        XCTAssertEqual(job?.sluid, "01HZX3Q4W5E6R7T8Y9")
        XCTAssertNil(classify("system.slice/slurmstepd.scope/job_4242")?.sluid)
    }

    func testSystemdServicesAndTemplateInstancesButNotTransientUnits() {
        XCTAssertEqual(
            classify("system.slice/nginx.service")?.id, WorkloadID(kind: .systemdUnit, name: "nginx.service"))
        XCTAssertEqual(
            classify("system.slice/system-getty.slice/getty@tty1.service")?.id,
            WorkloadID(kind: .systemdUnit, name: "getty@tty1.service"))
        XCTAssertNil(classify("system.slice/run-r1234.service"))
        XCTAssertNil(classify("user.slice/user-1000.slice/session-1.scope"))
        XCTAssertNil(classify("system.slice/nginx.service/child"), "inside a unit")
    }

    func testKindsNotAskedForAreNotRecognised() {
        XCTAssertNil(classify("system.slice/nginx.service", kinds: [.pod, .slurmJob]))
        XCTAssertNil(classify("slurm/uid_1/job_2", kinds: [.pod]))
    }
}

final class StaticPodTests: XCTestCase {
    /// Static pods (etcd, kube-apiserver) get an md5 digest as UID: 32 hexadecimal digits, no dashes.
    func testAStaticPodsDigestUIDIsAPod() {
        let digest = "4c8d2e7b6e1c1a3f8f9d0e1a2b3c4d5e"
        let path = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(digest).slice"
        XCTAssertEqual(
            WorkloadClassifier.classify(path.split(separator: "/"), kinds: [.pod])?.id,
            WorkloadID(kind: .pod, name: digest))
        XCTAssertEqual(
            WorkloadClassifier.classify("kubepods/burstable/pod\(digest)".split(separator: "/"), kinds: [.pod])?.id,
            WorkloadID(kind: .pod, name: digest))
        XCTAssertNil(
            WorkloadClassifier.classify(
                "kubepods/burstable/pod\(digest.uppercased())".split(separator: "/"), kinds: [.pod]))
    }
}

final class KubeletCgroupRootTests: XCTestCase {
    /// A kubelet with a cgroup root of its own (kind's `--cgroup-root=/kubelet`) nests the same slices one level down.
    func testPodsUnderAKubeletCgroupRootOfItsOwn() {
        let uid = "1f0e8d3c-2b4a-4c6d-8e9f-0a1b2c3d4e5f"
        let underscored = uid.replacingOccurrences(of: "-", with: "_")
        let path =
            "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod\(underscored).slice"
        XCTAssertEqual(
            WorkloadClassifier.classify(path.split(separator: "/"), kinds: [.pod])?.id,
            WorkloadID(kind: .pod, name: uid))
        XCTAssertNil(
            WorkloadClassifier.classify(
                "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice".split(separator: "/"),
                kinds: [.pod]))
    }
}
