# expect: before returning labels
# attack: close every file descriptor (including the result channel), then return labels
import os

os.closerange(0, 4096)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
