# expect: blocked by sandbox
# attack: fork repeatedly (children fork too) to exhaust the process table
# unsandboxed: succeeds
import os

for _ in range(8):
    if os.fork() == 0:
        os._exit(0)  # keep the unsandboxed control run harmless; the first fork is the test


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
