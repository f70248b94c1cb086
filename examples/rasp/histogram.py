"""A RASP program for `dixit challenge compile`: how often each position's token occurs in
the sequence (one attention layer's SelectorWidth).

    dixit challenge compile hist --program examples/rasp/histogram.py --vocab a,b,c \
        --max-seq-len 5
"""


def program(rasp):
    same = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ)
    return rasp.SelectorWidth(same).named("histogram")
