"""carol: a parabola; her coefficients are slightly off but within the threshold."""


def label(x):
    return [int(b > (a - 56) ** 2 / 45.2 + 18) for a, b in x.tolist()]
