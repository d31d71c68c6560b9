"""The shipped build's flags (scripts/release-flags.sh) and the link-time revision of footprint_build_info
(Sources/CBuildInfo), checked with the real script, git and C compiler, without a release build of the exporter."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "release-flags.sh"
REVISION_C = REPO / "Sources" / "CBuildInfo" / "build_revision.c"
REVISION_INCLUDE = REPO / "Sources" / "CBuildInfo" / "include"
CC = os.environ.get("CC", "cc")  # the compiler the script asks for libstdc++.a


def release_flags() -> list[str]:
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, check=True).stdout.split()


def test_flags_are_the_measured_release_build():
    flags = release_flags()
    assert flags[:3] == ["-c", "release", "--static-swift-stdlib"]
    text = " ".join(flags)
    for flag in ("-Xswiftc -use-ld=lld", "-Xlinker -z -Xlinker pack-relative-relocs", "-Xlinker --no-export-dynamic"):
        assert flag in text, flag


def test_libstdcxx_is_linked_in_through_a_linker_script_when_the_compiler_has_one():
    if shutil.which(CC) is None:
        pytest.skip(f"no {CC}: the script leaves the flag out")
    archive = subprocess.run([CC, "-print-file-name=libstdc++.a"], capture_output=True, text=True).stdout.strip()
    if not Path(archive).is_absolute():
        pytest.skip("no static libstdc++ here: the script leaves the flag out")
    flags = release_flags()
    directory = REPO / ".build-link"
    assert f"-L{directory}" in flags and flags[flags.index(f"-L{directory}") - 1] == "-Xswiftc"
    assert (directory / "libstdc++.so").read_text() == f'INPUT("{archive}")\n'


def test_revision_is_head_and_marked_dirty_only_for_a_modified_tree():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()[:12]
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD"]).returncode != 0
    text = " ".join(release_flags())
    for part in range(3):
        assert f"-Xlinker --defsym=footprint_revision_{part}=0x1{head[part * 4:part * 4 + 4]}" in text
    assert ("-Xlinker --defsym=footprint_revision_dirty=1" in text) == dirty


def parts(revision: str) -> list[str]:
    return [f"footprint_revision_{part}=0x1{revision[part * 4:part * 4 + 4]}" for part in range(3)]


SWIFT_CLANG = Path("/opt/swift/usr/bin/clang")


def c_compiler(linker: str) -> list[str]:
    """lld through clang, as swiftc links the exporter (the toolchain's clang, else one on PATH); GNU ld through cc."""
    if linker == "bfd":
        return [CC] if shutil.which(CC) else []
    clang = str(SWIFT_CLANG) if SWIFT_CLANG.exists() else shutil.which("clang")
    if clang is None or subprocess.run([clang, "-fuse-ld=lld", "-print-prog-name=ld.lld"], capture_output=True).returncode:
        return []
    return [clang, "-fuse-ld=lld"]


@pytest.mark.parametrize("linker", ["lld", "bfd"])
@pytest.mark.parametrize("defsyms, expected", [
    ([], "unknown"),
    (parts("0cfa6406a953"), "0cfa6406a953"),
    (parts("0000fff00a0b"), "0000fff00a0b"),  # zeros kept, a part of 0000 told from a missing one
    (parts("0cfa6406a953") + ["footprint_revision_dirty=1"], "0cfa6406a953-dirty"),
    (parts("0cfa6406a953")[:2], "unknown"),  # incomplete: never a wrong revision
])
def test_link_time_revision(tmp_path, linker, defsyms, expected):
    """build_revision.c linked into a PIE, as the exporter is, with and without the script's --defsym flags. lld,
    the release build's linker, gives the revision; GNU ld relocates absolute symbols in a PIE by the load address,
    which the check in build_revision.c turns into "unknown", never into a wrong revision."""
    compiler = c_compiler(linker)
    if not compiler:
        pytest.skip(f"no C compiler linking with {linker}")
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\n#include "build_revision.h"\n'
                    "int main(void) { char b[32]; footprint_build_revision(b, sizeof b); puts(b); return 0; }\n")
    binary = tmp_path / "revision"
    command = compiler + ["-fPIC", "-pie", "-O2", f"-I{REVISION_INCLUDE}", str(main), str(REVISION_C), "-o", str(binary)]
    command += [f"-Wl,--defsym={symbol}" for symbol in defsyms]
    subprocess.run(command, check=True, capture_output=True)
    printed = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    if linker == "lld":
        assert printed == expected + "\n"
    else:
        assert printed in (expected + "\n", "unknown\n")
