# expect: timed out
# attack: ignore SIGTERM/SIGINT/SIGALRM/SIGXCPU/SIGHUP then spin, hoping to outlive limits
import signal

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGXCPU, signal.SIGHUP,
            signal.SIGUSR1):
    signal.signal(sig, signal.SIG_IGN)
signal.alarm(0)


def label(x):
    while True:
        pass
