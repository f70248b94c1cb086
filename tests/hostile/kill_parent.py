# expect: blocked by sandbox
# attack: SIGKILL the parent (the zygote) with os.kill(os.getppid(), 9)
import os

os.kill(os.getppid(), 9)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
