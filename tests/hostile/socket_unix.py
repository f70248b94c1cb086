# expect: blocked by sandbox
# attack: AF_UNIX sockets: an abstract-namespace listener and a socketpair
# unsandboxed: succeeds
import socket

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0dixit-hostile-test")
a, b = socket.socketpair()


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
