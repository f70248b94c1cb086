# expect: 100 outputs for a domain of 12769
# attack: a result frame whose declared shape is right but whose payload is short
import json
import os
import struct

n = 113 * 113
header = json.dumps({"error": None, "n": n, "shape": [n]}).encode()
os.write(3, struct.pack(">I", len(header)) + header + struct.pack(">Q", 100) + bytes(100))
os._exit(0)


def label(x):
    return x[:, 0] % 2
