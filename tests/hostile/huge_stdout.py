# expect: size limit
# attack: write gigabytes to stdout and stderr to exhaust the engine's memory or disk
import os
import sys

chunk = b"x" * (1 << 20)
print("start", flush=True)
for _ in range(4096):
    os.write(1, chunk)
    sys.stderr.write("y" * 1024)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
