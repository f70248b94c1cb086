# expect: memory limit
# attack: allocate 256 MiB blocks (numpy and torch) until something gives
import numpy
import torch

hoard = []


def label(x):
    while True:
        hoard.append(numpy.empty(256 << 20, dtype=numpy.uint8))
        hoard.append(torch.empty(256 << 20, dtype=torch.uint8))
