# expect: exited with status 0
# attack: os._exit(0) in the middle of label(), skipping all cleanup
import os


def label(x):
    os._exit(0)
