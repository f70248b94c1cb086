"""Alice's guess: the model copies the current token."""


def label(x):
    return x.clone()
