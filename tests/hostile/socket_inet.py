# expect: blocked by sandbox
# attack: open an AF_INET and an AF_INET6 TCP socket and listen (exfiltration channel)
# unsandboxed: succeeds
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen()
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
