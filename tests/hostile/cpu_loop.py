# expect: (cpu)
# attack: spin forever in label() to burn CPU


def label(x):
    n = 0
    while True:
        n += 1
