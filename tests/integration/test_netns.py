#!/usr/bin/env python3
"""The partition harness itself (netns.py): a link carries TCP, a cut
drops it silently in both directions, a heal lets the same connection
carry on.  Skipped where network namespaces cannot be made."""

import socket
import sys
import unittest

import netns

REASON = netns.unavailable()

PEER = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
c.settimeout(None)
while True:
    b = c.recv(100)
    if not b:
        break
    c.sendall(b)
"""


@unittest.skipIf(REASON is not None, "partition tests: %s" % REASON)
class LinkTest(unittest.TestCase):

    def test_cut_and_heal(self):
        with netns.Link() as link:
            ls = socket.socket()
            ls.bind((link.host_ip, 0))
            ls.listen()
            ls.settimeout(60)
            link.popen([sys.executable, "-c", PEER, link.host_ip,
                        ls.getsockname()[1]])
            c, _ = ls.accept()
            c.settimeout(30)
            c.sendall(b"one")
            self.assertEqual(c.recv(100), b"one")
            link.cut()
            c.sendall(b"two")
            c.settimeout(0.5)
            # Nothing comes back while cut (an echo would take ~0 ms).
            with self.assertRaises(socket.timeout):
                c.recv(100)
            link.heal()
            c.settimeout(60)
            # TCP retransmits "two" once the link is back.
            self.assertEqual(c.recv(100), b"two")
            c.close()
            ls.close()

    def test_links_are_distinct(self):
        with netns.Link() as a, netns.Link() as b:
            self.assertNotEqual(a.ns, b.ns)
            self.assertNotEqual(a.host_ip, b.host_ip)


if __name__ == "__main__":
    unittest.main()
