# expect: sigsegv
# attack: dereference a wild pointer through ctypes inside label()
import ctypes


def label(x):
    return ctypes.cast(8, ctypes.POINTER(ctypes.c_int64)).contents.value
