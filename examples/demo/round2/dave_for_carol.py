"""Dave's guess: carol's model separates even digits from odd ones (wrong on 2, 4, 9)."""


def label(x, targets):
    return (targets % 2 == 0).long()
