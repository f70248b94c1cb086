# expect: unexpected result header
# attack: a result frame whose header carries fields the engine never asked for
import json
import os
import struct

header = json.dumps({"error": None, "labels_ok": True, "agreement": 1.0}).encode()
os.write(3, struct.pack(">I", len(header)) + header + struct.pack(">Q", 0))
os._exit(0)


def label(x):
    return x[:, 0] % 2
