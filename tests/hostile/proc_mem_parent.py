# expect: blocked by sandbox
# attack: read the zygote's memory through /proc/<ppid>/mem looking for other programs' code
import os

with open(f"/proc/{os.getppid()}/maps") as f:
    first = f.readline()
with open(f"/proc/{os.getppid()}/mem", "rb") as mem:
    mem.seek(int(first.split("-")[0], 16))
    mem.read(16)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
