"""End-to-end: --web.config.file (exporter-toolkit format) — TLS, client certificates, TLS versions, certificate
rotation, broken reloads, basic auth and response headers — against the real binary."""

import base64
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.error
import warnings

import pytest

from harness import parse_metrics, run_binary, value, wait_for_log
from tlscerts import PKI, der_to_pem_serial

FIXTURE = "vm"  # the smallest tree: the estimate only; these tests are about the web layer


@pytest.fixture
def pki(tmp_path):
    return PKI(str(tmp_path / "pki"))


def write_web_config(path, text):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def tls_config(pki, *extra_lines, cert=None, key=None):
    lines = ["tls_server_config:", f"  cert_file: {cert or pki.server_cert}", f"  key_file: {key or pki.server_key}"]
    return "\n".join(lines + [f"  {line}" for line in extra_lines]) + "\n"


def handshake(port, context, timeout=3):
    """Completes a TLS handshake; returns (version, server certificate serial)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version(), der_to_pem_serial(tls.getpeercert(binary_form=True))


def serial_of(cert_path):
    with open(cert_path, "rb") as handle:
        pem = handle.read()
    return der_to_pem_serial(ssl.PEM_cert_to_DER_cert(pem.decode()))


def refused(exporter, context):
    """True when a request with `context` gets no 200: a 403, or a failed handshake / closed connection."""
    try:
        status, _, _ = exporter.get("/metrics", tls_context=context)
    except (ssl.SSLError, ConnectionError, urllib.error.URLError, OSError):
        return True
    assert status == 403, f"expected 403 or a refused handshake, got {status}"
    return True


# MARK: - TLS

def test_server_certificate_only(exporter_factory, pki, tmp_path):
    config = str(tmp_path / "web.yml")
    write_web_config(config, tls_config(pki))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], tls_context=pki.client_context())
    assert exporter.base.startswith("https://")
    status, _, body = exporter.get("/metrics")
    assert status == 200 and "footprint_build_info" in body
    version, serial = handshake(exporter.port, pki.client_context())
    assert serial == serial_of(pki.server_cert)
    assert version in ("TLSv1.2", "TLSv1.3")
    # A client that does not trust the CA refuses the server: the certificate really is the one we made.
    untrusting = ssl.create_default_context(cafile=pki.wrong_ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(exporter.port, untrusting)
    # Hostname verification passes for localhost too (the SAN lists it).
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=3) as raw:
        with pki.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version()


def test_client_certificate_required(exporter_factory, pki, tmp_path):
    config = str(tmp_path / "web.yml")
    write_web_config(config, tls_config(pki, "client_auth_type: RequireAndVerifyClientCert",
                                        f"client_ca_file: {pki.ca_cert}"))
    good = pki.client_context(pki.client_cert, pki.client_key)
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], tls_context=good)
    status, _, body = exporter.get("/metrics")
    assert status == 200 and "footprint_build_info" in body
    assert refused(exporter, pki.client_context())  # no certificate
    assert refused(exporter, pki.client_context(pki.wrong_client_cert, pki.wrong_client_key))  # wrong CA
    # Refusals do not disturb the server.
    assert exporter.get("/metrics")[0] == 200


def test_client_certificate_must_allow_client_authentication(exporter_factory, pki, tmp_path):
    """A certificate from the client CA whose extended key usage does not include clientAuth is refused, as Go's
    crypto/x509 (which the exporter-toolkit uses) refuses it; one without the extension at all is accepted, as Go
    accepts it."""
    config = str(tmp_path / "web.yml")
    write_web_config(config, tls_config(pki, "client_auth_type: RequireAndVerifyClientCert",
                                        f"client_ca_file: {pki.ca_cert}"))
    server_only = pki.make_client("server-only-client", "prometheus", pki.ca_cert, pki.ca_key, usage="serverAuth")
    no_usage = pki.make_client("no-eku-client", "prometheus", pki.ca_cert, pki.ca_key, usage=None)
    both = pki.make_client("both-client", "prometheus", pki.ca_cert, pki.ca_key, usage="serverAuth,clientAuth")
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"],
                                tls_context=pki.client_context(pki.client_cert, pki.client_key))
    status, _, body = exporter.get("/metrics", tls_context=pki.client_context(*server_only))
    assert status == 403, (status, body[:200])
    assert "footprint_" not in body
    assert exporter.get("/metrics", tls_context=pki.client_context(*no_usage))[0] == 200
    assert exporter.get("/metrics", tls_context=pki.client_context(*both))[0] == 200
    assert exporter.get("/metrics")[0] == 200


def _tls_attempt(port, pki, version):
    context = pki.client_context(minimum=version, maximum=version)
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3 offer the old protocol at all
    try:
        negotiated, _ = handshake(port, context)
        return negotiated
    except (ssl.SSLError, ConnectionError, OSError):
        return None


@pytest.mark.parametrize("policy, expected", [
    (["min_version: TLS12"], {"TLSv1.1": None, "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}),
    (["max_version: TLS12"], {"TLSv1.1": None, "TLSv1.2": "TLSv1.2", "TLSv1.3": None}),
    # Positive control: the client below really can speak TLS 1.1, so its failure above is the server's refusal.
    (["min_version: TLS10"], {"TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}),
], ids=["min12", "max12", "min10-control"])
def test_tls_versions(exporter_factory, pki, tmp_path, policy, expected):
    config = str(tmp_path / "web.yml")
    write_web_config(config, tls_config(pki, *policy))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], tls_context=pki.client_context())
    versions = {"TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1.2": ssl.TLSVersion.TLSv1_2,
                "TLSv1.3": ssl.TLSVersion.TLSv1_3}
    got = {name: _tls_attempt(exporter.port, pki, version) for name, version in versions.items()}
    assert got == expected
    assert exporter.get("/-/healthy")[0] == 200


def test_plain_http_to_tls_port_fails_cleanly(exporter_factory, pki, tmp_path):
    config = str(tmp_path / "web.yml")
    write_web_config(config, tls_config(pki))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], tls_context=pki.client_context())
    for _ in range(3):
        started = time.monotonic()
        data = b""
        with socket.create_connection(("127.0.0.1", exporter.port), timeout=5) as plain:
            plain.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                while True:
                    chunk = plain.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            except socket.timeout:
                pytest.fail("plain HTTP on the TLS port hung for 5 s")
        assert time.monotonic() - started < 3
        assert b"200 OK" not in data and b"footprint_" not in data
    status, _, body = exporter.get("/metrics")
    assert status == 200 and "footprint_build_info" in body


def rotating_exporter(exporter_factory, pki, tmp_path):
    """An exporter whose web config names cert/key files that the test may rewrite."""
    config = str(tmp_path / "web.yml")
    cert = str(tmp_path / "server.crt")
    key = str(tmp_path / "server.key")
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    write_web_config(config, tls_config(pki, cert=cert, key=key))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], tls_context=pki.client_context())
    assert handshake(exporter.port, pki.client_context())[1] == serial_of(pki.server_cert)
    return exporter, config, cert, key


def test_certificate_rotation_by_sighup(exporter_factory, pki, tmp_path):
    started = time.monotonic()
    exporter, _, cert, key = rotating_exporter(exporter_factory, pki, tmp_path)
    first = serial_of(pki.server_cert)
    # A new certificate (new serial, new CN) under the same file names; SIGHUP makes it count at once — well before
    # the watcher's first 5 s poll, so it is the signal that did it.
    new_cert, new_key = pki.make_server("server-two", "footprint server two")
    second = serial_of(new_cert)
    assert second != first
    shutil.copy(new_key, key)
    shutil.copy(new_cert, cert)
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration reloaded")
    deadline = time.monotonic() + 1.5
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = handshake(exporter.port, pki.client_context())[1]
        except OSError as error:
            seen = repr(error)
        if seen == second:
            break
        time.sleep(0.05)
    assert seen == second, f"after SIGHUP and 'web configuration reloaded', a new connection got: {seen}"
    assert time.monotonic() - started < 4.5, "too slow to tell the SIGHUP from the 5 s poll"
    status, _, body = exporter.get("/metrics")
    assert status == 200 and "footprint_build_info" in body
    # Connections keep working after the hand-over (the old daemon drains in the background).
    for _ in range(5):
        assert handshake(exporter.port, pki.client_context())[1] == second


def test_broken_web_config_keeps_the_old_one(exporter_factory, pki, tmp_path):
    exporter, config, cert, key = rotating_exporter(exporter_factory, pki, tmp_path)
    first = serial_of(pki.server_cert)
    # Garbage YAML: the running certificate stays, the problem is logged.
    write_web_config(config, "tls_server_config: [this is: not {valid\n")
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration not reloaded", count=1)
    assert handshake(exporter.port, pki.client_context())[1] == first
    assert exporter.get("/metrics")[0] == 200

    # A new certificate whose key does not match (the key file still holds the old key): refused, the old one stays.
    other_cert, _ = pki.make_server("server-three", "footprint server three")
    write_web_config(config, tls_config(pki, cert=cert, key=key))
    shutil.copy(other_cert, cert)
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration not reloaded", count=2)
    assert handshake(exporter.port, pki.client_context())[1] == first
    assert exporter.get("/metrics")[0] == 200

    # A missing certificate file: refused as well.
    os.unlink(cert)
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration not reloaded", count=3)
    assert handshake(exporter.port, pki.client_context())[1] == first
    assert exporter.process.poll() is None
    assert "web configuration reloaded" not in exporter.logs()


def test_certificate_rotation_by_watcher(exporter_factory, pki, tmp_path):
    exporter, _, cert, key = rotating_exporter(exporter_factory, pki, tmp_path)
    new_cert, new_key = pki.make_server("server-rotated", "footprint server rotated")
    expected = serial_of(new_cert)
    # Write the pair by rename, key first then certificate, as cert-manager-like tools do.
    for source, target in ((new_key, key), (new_cert, cert)):
        shutil.copy(source, f"{target}.new")
        os.replace(f"{target}.new", target)
    rotated_at = time.monotonic()
    seen = None
    while time.monotonic() - rotated_at < 7.0:  # the watcher polls every 5 s (±0.5 s leeway)
        try:
            seen = handshake(exporter.port, pki.client_context())[1]
        except OSError as error:
            seen = repr(error)
        if seen == expected:
            break
        time.sleep(0.2)
    assert seen == expected, f"7 s after the rotation a new connection got: {seen}"
    assert exporter.get("/metrics")[0] == 200


@pytest.mark.parametrize("text, key", [
    ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  cert_fiel: x\n", "cert_fiel"),
    ("basic_auth_user:\n  admin: x\n", "basic_auth_user"),
    ("http_server_config:\n  headerz: {{}}\n", "headerz"),
], ids=["tls-key", "top-level", "http-key"])
def test_unknown_web_config_key_fails_startup(pki, tmp_path, text, key):
    config = str(tmp_path / "web.yml")
    write_web_config(config, text.format(cert=pki.server_cert, key=pki.server_key))
    empty = tmp_path / "root"
    (empty / "sys").mkdir(parents=True)
    (empty / "proc").mkdir()
    code, _, stderr = run_binary("--web.listen-address=127.0.0.1:0", f"--web.config.file={config}",
                                 f"--path.sysfs={empty}/sys", f"--path.procfs={empty}/proc")
    assert code == 2, (code, stderr)  # a bad file, like a bad flag or config file (README, "Validation")
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert key in lines[0], stderr


def _start_to_failure(*args, timeout=15):
    """Runs the binary on an empty tree until it exits; fails the test when it keeps running (it should not start)."""
    try:
        return run_binary(*args, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the exporter started with {args} instead of refusing to")


def test_bcrypt_cost_above_16_fails_startup(tmp_path):
    """A cost-31 hash would take days per check; the exporter refuses such a file at start-up, naming user and cost."""
    config = str(tmp_path / "web.yml")
    slow = "$2b$31$" + "abcdefghijklmnopqrstuu" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
    write_web_config(config, f"basic_auth_users:\n  prometheus: '{bcrypt_hash('s3cret', 8)}'\n  slowpoke: '{slow}'\n")
    empty = tmp_path / "root"
    (empty / "sys").mkdir(parents=True)
    (empty / "proc").mkdir()
    code, _, stderr = _start_to_failure("--web.listen-address=127.0.0.1:0", f"--web.config.file={config}",
                                        f"--path.sysfs={empty}/sys", f"--path.procfs={empty}/proc")
    assert code == 2, (code, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "slowpoke" in lines[0] and "31" in lines[0] and "16" in lines[0], stderr


def test_cannot_listen_fails_startup_with_code_1(tmp_path):
    """Only a failure to listen exits 1 (README, "Validation"); the line names the address and the reason."""
    empty = tmp_path / "root"
    (empty / "sys").mkdir(parents=True)
    (empty / "proc").mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, stderr = _start_to_failure(f"--web.listen-address=127.0.0.1:{port}",
                                            f"--path.sysfs={empty}/sys", f"--path.procfs={empty}/proc")
    assert code == 1, (code, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot listen" in lines[0] and str(port) in lines[0], stderr


# MARK: - Basic auth

def bcrypt_hash(password, cost):
    """A $2b$ hash from python's crypt module (libxcrypt), or a fixed known-good one where crypt is gone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            crypt = None
    if crypt is not None:
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << cost))
        if hashed and hashed.startswith("$2b$"):
            return hashed
    known = {("s3cret", 8): "$2b$08$bMpCnS//PeDLUAQl8/PWFOp38HqikRxLq5o0gPVKoEuakYZumBLO6",
             ("hunter2", 8): "$2b$08$Z8z9mpO3uF10frGsw.VoMO4NvBzy.Ie85Ux7gYH.U5T2fOpt6wm.e"}
    return known[(password, cost)]


HEADERS = {"X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=31536000",
           "X-Frame-Options": "deny"}


def basic_auth_config(users):
    lines = ["basic_auth_users:"] + [f"  {user}: '{hashed}'" for user, hashed in users.items()]
    lines += ["http_server_config:", "  headers:"] + [f"    {name}: {value}" for name, value in HEADERS.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def auth_exporter(exporter_factory, tmp_path):
    prometheus = bcrypt_hash("s3cret", 8)
    # The same algorithm under the $2y$ prefix (htpasswd's), which the exporter-toolkit documents.
    grafana = "$2y$" + bcrypt_hash("hunter2", 8)[4:]
    config = str(tmp_path / "web.yml")
    write_web_config(config, basic_auth_config({"prometheus": prometheus, "grafana": grafana}))
    return exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], auth=("prometheus", "s3cret"))


def raw_auth(exporter, value):
    return exporter.get("/metrics", auth=False, headers={} if value is None else {"Authorization": value})


def test_basic_auth_accepts_and_rejects(auth_exporter):
    exporter = auth_exporter
    status, headers, body = exporter.get("/metrics")
    assert status == 200 and "footprint_build_info" in body
    for name, value in HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert exporter.get("/metrics", auth=("grafana", "hunter2"))[0] == 200  # the $2y$ hash
    cases = {
        "wrong password": exporter.get("/metrics", auth=("prometheus", "S3cret")),
        "password of another user": exporter.get("/metrics", auth=("prometheus", "hunter2")),
        "unknown user": exporter.get("/metrics", auth=("nobody", "s3cret")),
        "empty user": exporter.get("/metrics", auth=("", "s3cret")),
        "missing header": raw_auth(exporter, None),
        "not base64": raw_auth(exporter, "Basic !!!not*base64!!!"),
        "no colon": raw_auth(exporter, "Basic " + base64.b64encode(b"prometheuss3cret").decode()),
        "bearer": raw_auth(exporter, "Bearer x"),
        "scheme only": raw_auth(exporter, "Basic"),
        "empty": raw_auth(exporter, ""),
        "prefix of the password": exporter.get("/metrics", auth=("prometheus", "s3cre")),
        "password with a suffix": exporter.get("/metrics", auth=("prometheus", "s3cretx")),
    }
    for case, (status, headers, body) in cases.items():
        assert status == 401, (case, status)
        assert headers.get("WWW-Authenticate", "").startswith("Basic"), (case, headers)
        assert "footprint_" not in body, case
        for name, value in HEADERS.items():
            assert headers.get(name) == value, (case, name, headers)
    # Every path is protected, the health endpoints included.
    for path in ("/", "/-/healthy", "/-/ready"):
        assert exporter.get(path, auth=False)[0] == 401, path
        assert exporter.get(path)[0] == 200, path
    assert exporter.get("/metrics")[0] == 200


def test_basic_auth_password_is_not_cut_at_nul(auth_exporter):
    """The password is the whole decoded string: "s3cret\\0anything" is not "s3cret" (Go's bcrypt, which the
    exporter-toolkit uses, compares all bytes; a C string API stops at the NUL)."""
    status, headers, _ = auth_exporter.get("/metrics", auth=("prometheus", "s3cret\x00anything"))
    assert status == 401, status
    assert headers.get("WWW-Authenticate", "").startswith("Basic")


def test_basic_auth_timing_does_not_reveal_users(auth_exporter):
    """Known user with a wrong password and unknown user must both pay bcrypt: medians within a factor of 2."""
    exporter = auth_exporter
    known, unknown = [], []
    for attempt in range(15):
        for user, times in (("prometheus", known), (f"ghost{attempt}", unknown)):
            started = time.perf_counter()
            status = exporter.get("/metrics", auth=(user, f"wrong-{attempt}-{user}"))[0]
            times.append(time.perf_counter() - started)
            assert status == 401
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.5 <= ratio <= 2.0, (ratio, statistics.median(known), statistics.median(unknown))
    # And both really pay bcrypt (cost 8: milliseconds), compared with a request that needs no check at all.
    assert statistics.median(unknown) > 0.002, statistics.median(unknown)


def test_basic_auth_users_change_on_sighup(exporter_factory, tmp_path):
    config = str(tmp_path / "web.yml")
    write_web_config(config, basic_auth_config({"prometheus": bcrypt_hash("s3cret", 8)}))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], auth=("prometheus", "s3cret"))
    assert exporter.get("/metrics")[0] == 200  # now in the success cache
    write_web_config(config, basic_auth_config({"prometheus": bcrypt_hash("hunter2", 8)}))
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration reloaded")
    # The old password no longer works, even though it was cached as good; the new one does.
    assert exporter.get("/metrics")[0] == 401
    assert exporter.get("/metrics", auth=("prometheus", "hunter2"))[0] == 200
    # Dropping basic_auth_users would open the server: a reload may not do that (an emptied or half-written file
    # looks the same); the users in force stay and the exporter says a restart applies it.
    write_web_config(config, "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration would turn off basic auth")
    assert exporter.get("/metrics", auth=False)[0] == 401
    assert exporter.get("/metrics", auth=("prometheus", "hunter2"))[0] == 200
    assert exporter.logs().count("web configuration reloaded") == 1


# MARK: - Weakening reloads

def reload_failures(exporter):
    samples = parse_metrics(exporter.get("/metrics")[2])
    return value(samples, "footprint_web_config_reload_failures_total")


def wait_for_reload_failures(exporter, at_least, timeout=10):
    """Waits until the exported count of failed web-config reloads reaches `at_least` (it is rendered each sample)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = reload_failures(exporter)
        if seen >= at_least:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"footprint_web_config_reload_failures_total stayed at {seen}, expected >= {at_least}")


def plain_http_answered(port):
    """Whether a plain-HTTP scrape of `port` gets an HTTP answer (it must not while TLS is in force)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = plain.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    return data.startswith(b"HTTP/1.")


def test_reload_that_would_weaken_security_keeps_the_config_in_force(exporter_factory, pki, tmp_path):
    """TLS and basic auth in force; the file is emptied, cut to `basic_auth_users:`, then loses its users. Each reload
    would turn protection off, so each is refused like a broken file: logged at error, counted, the config in force
    kept (plain HTTP still refused, credentials still required)."""
    config = str(tmp_path / "web.yml")
    users = {"prometheus": bcrypt_hash("s3cret", 8)}
    write_web_config(config, tls_config(pki) + basic_auth_config(users))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], tls_context=pki.client_context(),
                                auth=("prometheus", "s3cret"))
    assert not plain_http_answered(exporter.port)
    steps = [("", "web configuration would turn off TLS"),
             ("basic_auth_users:\n", "web configuration would turn off TLS"),
             (tls_config(pki), "web configuration would turn off basic auth")]
    for count, (text, message) in enumerate(steps, start=1):
        write_web_config(config, text)
        exporter.process.send_signal(signal.SIGHUP)
        wait_for_log(exporter, message)
        assert not plain_http_answered(exporter.port), text
        assert exporter.get("/metrics", auth=False)[0] == 401, text
        status, _, body = exporter.get("/metrics")
        assert status == 200 and "footprint_build_info" in body, text
        wait_for_reload_failures(exporter, count)
    logs = exporter.logs()
    refusals = [line for line in logs.splitlines() if "would turn off" in line]
    assert refusals and all("level=error" in line and "restart the exporter to apply it" in line
                            for line in refusals), refusals
    assert "web configuration reloaded" not in logs
    # A change that keeps TLS and users still applies.
    write_web_config(config, tls_config(pki) + basic_auth_config({**users, "grafana": bcrypt_hash("hunter2", 8)}))
    exporter.process.send_signal(signal.SIGHUP)
    wait_for_log(exporter, "web configuration reloaded")
    assert exporter.get("/metrics", auth=("grafana", "hunter2"))[0] == 200


# MARK: - bcrypt under load

ATTACKER = textwrap.dedent("""
    import base64, http.client, json, sys, threading, time
    port, count, seconds, header = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    seen = {"statuses": {}, "bad_429": 0}
    ready = threading.Barrier(count + 1)

    def attack(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                source_address=(f"127.0.0.{40 + index % 8}", 0))
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            user = f"ghost{index}-{attempt}" if index % 2 else "prometheus"
            token = base64.b64encode(f"{user}:wrong-{attempt}".encode()).decode()
            try:
                connection.request("GET", "/metrics", headers={"Authorization": f"Basic {token}"})
                if attempt == 1:
                    ready.wait()  # every first request is on its way before the scraper starts
                response = connection.getresponse()
                response.read()
                status = response.status
                if status == 429 and (response.getheader("Retry-After") != "1" or not response.getheader(header)):
                    with lock:
                        seen["bad_429"] += 1
            except (OSError, http.client.HTTPException):
                connection.close()
                status = "error"
            with lock:
                seen["statuses"][str(status)] = seen["statuses"].get(str(status), 0) + 1

    threads = [threading.Thread(target=attack, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    print("attacking", flush=True)
    for thread in threads:
        thread.join(max(0.0, deadline + 12 - time.monotonic()))
    with lock:
        print(json.dumps(seen), flush=True)
""")


def test_bcrypt_flood_does_not_slow_an_authorised_scraper(exporter_factory, tmp_path):
    """40 clients sending unknown users and wrong passwords for a cost-12 user: bcrypt work is capped (the excess gets
    429 with Retry-After at once), and a scraper whose credentials are cached keeps answering fast."""
    import json

    config = str(tmp_path / "web.yml")
    write_web_config(config, basic_auth_config({"prometheus": bcrypt_hash("s3cret", 12)}))
    exporter = exporter_factory(FIXTURE, args=[f"--web.config.file={config}"], auth=("prometheus", "s3cret"))
    test_started = time.monotonic()
    assert exporter.get("/metrics", timeout=20)[0] == 200  # one bcrypt: the credentials are cached from now on
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER, str(exporter.port), "40", "14", "X-Frame-Options"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert attacker.stdout.readline().strip() == "attacking"
        latencies = []
        statuses = []
        deadline = time.monotonic() + 10
        while len(latencies) < 20 and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status = exporter.get("/metrics", timeout=5)[0]
            except (OSError, urllib.error.URLError):
                status = None
            latencies.append(time.monotonic() - started)
            statuses.append(status)
        median = statistics.median(latencies)
        report = f"latencies {[round(t, 2) for t in latencies]}, statuses {statuses}"
        assert median < 0.5, f"authorised scrape median {median:.2f}s under a bcrypt flood: {report}"
        assert statuses.count(200) == len(statuses) and max(latencies) < 3, report
        output, _ = attacker.communicate(timeout=25)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.communicate()
    seen = json.loads(output.strip().splitlines()[-1])
    assert seen["statuses"].get("429", 0) > 0, seen
    assert seen["bad_429"] == 0, seen
    assert set(seen["statuses"]) <= {"401", "429"}, seen
    assert time.monotonic() - test_started < 30
