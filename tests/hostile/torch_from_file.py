# expect: blocked by sandbox
# attack: torch.from_file (C++ open, bypassing Python's open) on the ledger secret
# unsandboxed: succeeds
import os

import torch

SIZE = os.stat("__SECRET_PATH__").st_size  # stat is not a read: Landlock allows it
DATA = torch.from_file("__SECRET_PATH__", shared=False, size=SIZE, dtype=torch.uint8)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2 + int(DATA.sum() == 0)
