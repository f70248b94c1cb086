# expect: malformed result
# attack: write garbage (a fake frame header) to every fd from 3 up, then return good labels
import os

for fd in range(3, 1024):
    try:
        os.write(fd, b"\xff\xff\xff\xffGARBAGE" * 100)
    except OSError:
        pass


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
