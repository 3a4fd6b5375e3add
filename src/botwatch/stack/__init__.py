"""The botwatch backends as local processes: ``botwatch stack`` and the test harness.

- :mod:`.processes`, :mod:`.pidfiles`, :mod:`.ports`: child processes in their own
  process groups (owned by the caller, or detached), found and stopped again;
- :mod:`.binaries`: where the configs and binaries are, and how to get a missing one;
- :mod:`.collector`, :mod:`.prometheus`, :mod:`.alertmanager`: one launcher per
  backend, each with the repo's config; :mod:`.journal_receiver`: botwatch's journal
  receiver, where the collector's traces and logs go natively (Loki, Tempo and
  Grafana are AGPL and run only as images under docker compose);
- :mod:`.launcher`: ``up``, ``down`` and ``status`` of the whole stack.
"""
