"""Training parity with the upstream forks on a toy world (docs/parity.md)."""
