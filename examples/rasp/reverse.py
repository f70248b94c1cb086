"""A RASP program for `dixit challenge compile`: reverse the sequence.

The file defines program(rasp), which builds the output SOp from the `rasp` module it is given
(tracr.rasp.rasp when compiling; dixit's pure-Python interpreter in the sealed labeler), and
imports nothing but the standard library.

    dixit challenge compile reverse --program examples/rasp/reverse.py --vocab a,b,c \
        --max-seq-len 5
"""


def program(rasp):
    # the length, as Tracr computes it: how many positions a select-all selects
    length = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE))
    opposite = (length - rasp.indices - 1).named("opposite")
    flip = rasp.Select(rasp.indices, opposite, rasp.Comparison.EQ)
    return rasp.Aggregate(flip, rasp.tokens).named("reverse")
