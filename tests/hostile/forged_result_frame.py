# expect: forged /x41 error
# attack: write a result frame of its own to the result channel (fd 3) with a hostile error
# text and extra header fields, then exit before the real frame: the engine trusts nothing
# beyond the frame's declared shape, and the text is made safe before it is signed
import json
import os
import struct

header = json.dumps({"error": "forged \\x41 error \x1b[31m" + "B" * 1_000}).encode()
os.write(3, struct.pack(">I", len(header)) + header + struct.pack(">Q", 0))
os._exit(0)


def label(x):
    return x[:, 0] % 2
