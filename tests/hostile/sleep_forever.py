# expect: (wall)
# attack: sleep forever (uses no CPU, so only the wall clock can stop it)
import time


def label(x):
    time.sleep(10**6)
