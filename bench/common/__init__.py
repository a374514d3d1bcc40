"""Helpers the benchmarks share: the SIPp harness copy, a fresh PostgreSQL database, the
phones' User-Agent. `lib.sh` holds the shell helpers (process-tree CPU, the code under
test)."""
