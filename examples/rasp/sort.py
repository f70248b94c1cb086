"""A RASP program for `dixit challenge compile`: sort the tokens (numbers), ascending.

A token's place is how many tokens are smaller than it, ties broken by position (keys
t * 10 + i are distinct while the sequence is shorter than 10); each position then reads the
token whose place it is.

    dixit challenge compile sort --program examples/rasp/sort.py --vocab 1,2,3,4 --max-seq-len 4
"""


def program(rasp):
    keys = rasp.SequenceMap(lambda t, i: t * 10 + i, rasp.tokens, rasp.indices).named("keys")
    place = rasp.SelectorWidth(rasp.Select(keys, keys, rasp.Comparison.LT)).named("place")
    return rasp.Aggregate(rasp.Select(place, rasp.indices, rasp.Comparison.EQ),
                          rasp.tokens).named("sort")
