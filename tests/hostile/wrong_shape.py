# expect: returned shape (3,)
# attack: return fewer labels than inputs
import torch


def label(x):
    return torch.zeros(3, dtype=torch.uint8)
