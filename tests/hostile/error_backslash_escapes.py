# expect: runtimeerror: /x41/u0041
# attack: an error text the TOML writer mangles (backslash-x) with terminal escapes and 50 kB
# of padding; results quote it, so it must be made safe before anything is signed


def label(x):
    raise RuntimeError("\\x41\\u0041 \x1b[2J\x00" + "A" * 50_000)
