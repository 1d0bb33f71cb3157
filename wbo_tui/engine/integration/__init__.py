"""What every integration of the engine shares: the settlement channels (``upstream``),
the bank exchange channels (``fx.bank``), the reference-rate sources
(``fx.rate_source``), and whatever comes next (a margin-call price feed).

Each integration is a small gateway interface with a built-in simulator behind it, and an
HTTP JSON contract with a client and a loopback server tested against each other.  The
plumbing of those pieces is the same every time, so it lives here once:

- ``sim_store``: ``SqliteSimStore``, the SQLite file a simulator keeps its state in, one
  ``BEGIN IMMEDIATE`` transaction per call, shared by every process that opens it;
- ``http_server``: ``LoopbackJsonServer``, any gateway served over its JSON contract on
  127.0.0.1, with injected delays and request counts for tests of lost answers;
- ``http_client``: ``JsonHttpClient``, the httpx client of a contract, and the failures
  of a request sorted by what they say about whether the far side acted;
- ``config``: the checks of a gateway's small JSON configuration (its kind, store, base
  URL, timeout), which build nothing, so a command can refuse a bad one cheaply.

An integration keeps only what is its own: its routes and their answers, its tables, its
wire format and its error names.  The modules are imported one by one (nothing here is
re-exported), so that a process using only simulators never loads httpx.
"""
