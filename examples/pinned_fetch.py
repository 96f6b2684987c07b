"""Fetch an https:// page of an I2P site whose self-signed certificate is
pinned, as Tahoe-LAFS's HTTP storage client pins its servers' certificates.

    python examples/pinned_fetch.py https://xxx.b32.i2p/ server-certificate.pem

tests/integration/test_web_tls.py uses this policy on the private network.
"""

import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from OpenSSL import SSL
from twisted.internet import defer, task
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.web.client import readBody
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

import txi2p


@implementer(IPolicyForHTTPS)
class PinnedCertificate:
    """Accepts exactly one certificate (by its SHA-256), whatever its name
    or issuer: a self-signed certificate the client learned out of band."""

    def __init__(self, certificate_pem):
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        self.fingerprint = certificate.fingerprint(hashes.SHA256())

    def creatorForNetloc(self, hostname, port):
        return PinnedConnections(self.fingerprint)


@implementer(IOpenSSLClientConnectionCreator)
class PinnedConnections:
    """TLS client connections whose handshake fails unless the server shows
    the pinned certificate (and nothing else)."""

    def __init__(self, fingerprint):
        self.fingerprint = fingerprint
        self.context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        self.context.set_min_proto_version(SSL.TLS1_2_VERSION)
        self.context.set_verify(SSL.VERIFY_PEER, self.verify)

    def verify(self, connection, certificate, error, depth, ok):
        return depth == 0 and certificate.to_cryptography().fingerprint(hashes.SHA256()) == self.fingerprint

    def clientConnectionForTLS(self, protocol):
        connection = SSL.Connection(self.context, None)
        connection.set_app_data(protocol)
        connection.set_connect_state()
        return connection


async def main(reactor, url, certificate_file):
    with open(certificate_file, "rb") as f:
        policy = PinnedCertificate(f.read())
    i2p = await txi2p.connect(reactor)
    try:
        response = await i2p.web_agent(tls_context_factory=policy).request(b"GET", url.encode())
        print(response.code, response.phrase.decode())
        print((await readBody(response)).decode(errors="replace"))
    finally:
        await i2p.quit()


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, *sys.argv[1:])))
