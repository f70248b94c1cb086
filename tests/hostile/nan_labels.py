# expect: nan
# attack: return NaN labels (NaN != 0 and NaN != 1 comparisons are easy to get wrong)
import torch


def label(x):
    return torch.full((x.shape[0],), float("nan"))
