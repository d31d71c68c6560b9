"""Test PKI made with the `openssl` command line: a CA, server certificates for 127.0.0.1/localhost, client certificates
from that CA and from a second (wrong) CA. EC P-256 keys, so generating a set takes a fraction of a second."""

import os
import ssl
import subprocess
import warnings


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


class PKI:
    """Certificates under `directory`; every path attribute is absolute."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._serial = 1000
        self.ca_cert, self.ca_key = self.make_ca("ca", "footprint test CA")
        self.wrong_ca_cert, self.wrong_ca_key = self.make_ca("wrong-ca", "footprint wrong CA")
        self.server_cert, self.server_key = self.make_server("server", "footprint server one")
        self.client_cert, self.client_key = self.make_client("client", "prometheus", self.ca_cert, self.ca_key)
        self.wrong_client_cert, self.wrong_client_key = self.make_client(
            "wrong-client", "intruder", self.wrong_ca_cert, self.wrong_ca_key)

    def path(self, name):
        return os.path.join(self.directory, name)

    def _key(self, name):
        key = self.path(f"{name}.key")
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key,
                 cwd=self.directory)
        return key

    def make_ca(self, name, common_name):
        key = self._key(name)
        cert = self.path(f"{name}.crt")
        _openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2", "-subj", f"/CN={common_name}",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 cwd=self.directory)
        return cert, key

    def _sign(self, name, common_name, ca_cert, ca_key, extensions):
        key = self._key(name)
        csr = self.path(f"{name}.csr")
        cert = self.path(f"{name}.crt")
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as handle:
            handle.write("\n".join(extensions) + "\n")
        _openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={common_name}", cwd=self.directory)
        self._serial += 1
        _openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", str(self._serial),
                 "-days", "2", "-out", cert, "-extfile", ext, cwd=self.directory)
        return cert, key

    def make_server(self, name, common_name):
        """A server certificate for 127.0.0.1 and localhost, signed by the good CA."""
        return self._sign(name, common_name, self.ca_cert, self.ca_key, [
            "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost"])

    def make_client(self, name, common_name, ca_cert, ca_key, usage="clientAuth"):
        """A client certificate; `usage` is its extended key usage (None: no such extension at all)."""
        extensions = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"]
        if usage is not None:
            extensions.append(f"extendedKeyUsage={usage}")
        return self._sign(name, common_name, ca_cert, ca_key, extensions)

    def client_context(self, cert=None, key=None, minimum=None, maximum=None):
        """A client context that verifies the server against the good CA, optionally presenting a certificate."""
        context = ssl.create_default_context(cafile=self.ca_cert)
        if cert:
            context.load_cert_chain(cert, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose, to see them refused
            if minimum is not None:
                context.minimum_version = minimum
            if maximum is not None:
                context.maximum_version = maximum
        return context


def der_to_pem_serial(der):
    """The serial number of a DER certificate (via openssl, to avoid depending on `cryptography`)."""
    result = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                            capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().strip().split("=", 1)[1]
