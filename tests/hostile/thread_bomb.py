# expect: exhausted
# attack: start threads until something gives (threads are allowed; their number is not)
import threading
import time

threads = []
try:
    while True:
        t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
        t.start()
        threads.append(t)
except RuntimeError as exc:
    raise RuntimeError(f"exhausted after {len(threads)} threads: {exc}") from None


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
