# expect: returned shape (3,)
# attack: monkeypatch builtins/numpy/torch so a naive validator would accept 3 labels
import builtins

import numpy
import torch

N = 12769
builtins.len = lambda obj: N
numpy.asarray = lambda obj, *a, **k: numpy.zeros(N, dtype=numpy.uint8)
torch.Tensor.numpy = lambda self, *a, **k: numpy.zeros(N, dtype=numpy.uint8)
torch.Tensor.detach = lambda self: self
numpy.isnan = lambda a: numpy.zeros(N, dtype=bool)


def label(x):
    return [0, 1, 0]
