"""The botwatch backends as local processes: ``botwatch stack`` and the test harness.

- :mod:`.processes`, :mod:`.pidfiles`, :mod:`.ports`: child processes in their own
  process groups (owned by the caller, or detached), found and stopped again;
- :mod:`.binaries`: where the configs and binaries are, and how to get a missing one;
- :mod:`.collector`, :mod:`.prometheus`, :mod:`.alertmanager`, :mod:`.loki`: one
  launcher per backend, each with the repo's config;
- :mod:`.launcher`: ``up``, ``down`` and ``status`` of the whole stack.
"""
