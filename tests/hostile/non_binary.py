# expect: non-binary
# attack: return labels outside {0, 1}


def label(x):
    return x[:, 0] % 3
