# expect: outputs of an undeclared shape
# attack: a well-formed result frame declaring a shape the challenge's output does not allow
import json
import os
import struct

n = 113 * 113
header = json.dumps({"error": None, "n": n, "shape": [n, 3]}).encode()
os.write(3, struct.pack(">I", len(header)) + header + struct.pack(">Q", 3 * n) + bytes(3 * n))
os._exit(0)


def label(x):
    return x[:, 0] % 2
