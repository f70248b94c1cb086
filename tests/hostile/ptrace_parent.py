# expect: blocked by sandbox
# attack: ptrace(PTRACE_ATTACH) the zygote, then process_vm_readv its memory via ctypes
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
ppid = os.getppid()
if libc.ptrace(16, ppid, None, None) == 0:  # PTRACE_ATTACH
    libc.ptrace(17, ppid, None, None)  # PTRACE_DETACH
    raise SystemExit("ptrace attach succeeded")
buf = ctypes.create_string_buffer(64)
local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 64)
remote = (ctypes.c_void_p * 2)(0x400000, 64)
n = libc.syscall(310, ppid, local, 1, remote, 1, 0)  # process_vm_readv
err = ctypes.get_errno()
raise OSError(err, f"process_vm_readv -> {n}: {os.strerror(err)}")


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
