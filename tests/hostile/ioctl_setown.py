# expect: blocked by sandbox
# attack: ioctl(FIOSETOWN) + ioctl(FIOASYNC) on inherited fds, so the zygote gets SIGIO
import fcntl
import os
import struct

for fd in (0, 1, 2, 3):
    fcntl.ioctl(fd, 0x8901, struct.pack("i", os.getppid()))  # FIOSETOWN
    fcntl.ioctl(fd, 0x5452, struct.pack("i", 1))  # FIOASYNC


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
