# expect: label bytes outside 0..1
# attack: a result frame of the right shape whose bytes are not binary labels
import json
import os
import struct

n = 113 * 113
header = json.dumps({"error": None, "n": n, "shape": [n]}).encode()
os.write(3, struct.pack(">I", len(header)) + header + struct.pack(">Q", n) + bytes([7]) * n)
os._exit(0)


def label(x):
    return x[:, 0] % 2
