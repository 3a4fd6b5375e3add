"""A child process that is always stopped: by its owner, at exit, or with pytest.

The implementation is botwatch.stack.processes (also behind ``botwatch stack``);
tests use its default, owned lifetime: each process runs in its own session (so
stopping it stops its children too), logs to a file, and on Linux is killed by
the kernel if the test run itself dies (PR_SET_PDEATHSIG), so no binary
outlives a crashed or killed pytest.
"""

from botwatch.stack.processes import ManagedProcess, ProcessFailed, http_ok

__all__ = ["ManagedProcess", "ProcessFailed", "http_ok"]
